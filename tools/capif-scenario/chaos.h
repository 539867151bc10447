// The chaos step of capif-scenario (docs/reliability.md): its plan, parsed and checked before
// anything runs, and the process probes it uses (resident memory, file-descriptor limit).
//
//   ASSIGN_OR_RETURN(ChaosPlan plan, ParseChaosPlan(step, ccf_ids));
//   for (const ChaosAction& a : plan.Timeline()) ...   // every action of every cycle, in order
#ifndef CAPIF_TOOLS_CAPIF_SCENARIO_CHAOS_H_
#define CAPIF_TOOLS_CAPIF_SCENARIO_CHAOS_H_

#include <sys/types.h>

#include <set>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace capif {

// One thing done to a CCF's process at `at` (from the start of the run).
struct ChaosAction {
  enum Kind {
    kKill,            // SIGKILL, then start again on the same data and ports
    kRestart,         // SIGTERM (must exit 0), then start again
    kPause,           // SIGSTOP
    kResume,          // SIGCONT (the end of a pause)
    kRotateTokenKey,  // admin RotateTokenKey (as `capifctl rotate-token-key`)
    kStarveFds,       // RLIMIT_NOFILE lowered to the descriptors open now + 4
    kRestoreFds,      // the limit as it was (the end of a starvation)
  };
  absl::Duration at;
  Kind kind;
  std::string ccf;
};

const char* ChaosActionName(ChaosAction::Kind kind);

struct ChaosPlan {
  absl::Duration run;    // "seconds": how long the load runs under faults
  absl::Duration cycle;  // "cycle": the faults repeat with this period (default: run)
  std::vector<ChaosAction> faults;  // one cycle, at offsets within it
  int in_flight = 4;                // token requests at once
  absl::Duration recover;           // "recover_seconds": time allowed after the run
  double rss_tolerance = 0.10;      // "rss_tolerance": allowed RSS change, warm to end
  absl::Duration warmup;            // "warmup_seconds": RSS baseline this long after a start
                                    // (default a fifth of the run, at least 10 s)

  // Every action of every cycle that starts before `run`, in time order. A pause or a
  // starvation that would outlast the run ends with it.
  std::vector<ChaosAction> Timeline() const;
};

// `step` is the chaos step's JSON; `ccfs` the CCF ids of the scenario. InvalidArgument naming
// the field for anything out of range.
absl::StatusOr<ChaosPlan> ParseChaosPlan(const nlohmann::json& step,
                                         const std::set<std::string>& ccfs);

// VmRSS of `pid` in MB (0 if it cannot be read).
double ResidentMb(pid_t pid);
// How many file descriptors `pid` has open (-1 if /proc cannot tell).
int OpenFds(pid_t pid);
// Sets the soft RLIMIT_NOFILE of `pid` to `soft` (prlimit(2)); *previous gets the old one.
absl::Status SetFdLimit(pid_t pid, long soft, long* previous);

}  // namespace capif

#endif  // CAPIF_TOOLS_CAPIF_SCENARIO_CHAOS_H_
