// capif-scenario: runs a declarative multi-domain scenario (docs/scenarios.md) with real
// processes on 127.0.0.1: it creates each trust domain's PKI (capif-pki), starts one ccfd per
// CCF configured with the peerings and agreements, registers every AEF's provider and starts a
// capif-sample-aef for it, then runs the steps with the invoker SDK, openssl s_client (TLS-PSK,
// TLS-PKI) and HTTPS, and reports: a table on stdout (step, result, latency) and, in the output
// directory, report.md with the topology, the steps and a PlantUML sequence diagram of the
// CAPIF-1e/2e/3/6/6e messages observed (sequence.puml; sequence.svg when `plantuml` is
// installed).
//
// Observed messages come from the runner's own calls (CAPIF-1e, CAPIF-2e), the CCFs' audit logs
// (every CAPIF-6/6e call they answered) and the sample AEFs' logs (CAPIF-3 both ways).
#ifndef CAPIF_TOOLS_CAPIF_SCENARIO_SCENARIO_H_
#define CAPIF_TOOLS_CAPIF_SCENARIO_SCENARIO_H_

#include <ostream>
#include <string>

namespace capif {

struct ScenarioOptions {
  std::string file;     // the scenario (JSON)
  std::string out_dir;  // where the PKI, data, logs and report go (created; must be empty)
  std::string bin_dir;  // where ccf/ccfd, tools/... are (the Bazel output or runfiles root)
};

// The build output root a binary at <root>/tools/<dir>/<name> runs ccfd and the tools from:
// three levels up from the running executable (bazel-bin, or a runfiles tree).
std::string DefaultBinDir(const char* argv0);

// Exit code: 0 when every step met its expectation, 1 when one did not, 2 when the scenario
// file or the environment is unusable (the message says which field or what).
int RunScenario(const ScenarioOptions& options, std::ostream& out, std::ostream& err);

}  // namespace capif

#endif  // CAPIF_TOOLS_CAPIF_SCENARIO_SCENARIO_H_
