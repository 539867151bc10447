// SeedCcfState: bulk state for benchmarks, written into a CCF's data directory before its ccfd
// first starts, through the same repositories ccfd uses (the same tables, indexes and sealed
// AEFPSKs), so that a load runs against a CCF that "has" many invokers and security contexts
// without onboarding them one by one over HTTPS.
//
//   SeedSpec s{100000, 10000};
//   RETURN_IF_ERROR(SeedCcfState(ccf_dir + "/data", s));
//
// Invokers are inv-seed-<n>; each carries the same placeholder certificate (nobody presents it).
// The first `security_contexts` of them get a context with one PSK entry for an AEF of their own
// (aef-seed-<n>), so the security tables grow as they do in service. Not for production data:
// the database is written with synchronous=OFF. Errors: InvalidArgument for counts out of range,
// AlreadyExists when the directory already holds any of them, the store's errors otherwise.
#ifndef CAPIF_TOOLS_CAPIF_SCENARIO_SEED_H_
#define CAPIF_TOOLS_CAPIF_SCENARIO_SEED_H_

#include <string>

#include "absl/status/status.h"

namespace capif {

struct SeedSpec {
  int invokers = 0;
  int security_contexts = 0;  // at most `invokers`
};

absl::Status SeedCcfState(const std::string& data_dir, const SeedSpec& spec);

}  // namespace capif

#endif  // CAPIF_TOOLS_CAPIF_SCENARIO_SEED_H_
