// The capifctl operator command line.
//
//   capifctl peers --config FILE [--timeout-ms N] [--json]
//       Greets every configured peer of the CCF described by FILE (its ccfd configuration),
//       over the bus with that CCF's own certificate, all peers in parallel. For each peer:
//       reachable or not, the identity it presented, CONNECT (first Hello: TCP and TLS handshake
//       included), RTT (a second Hello on the established channel), the sequence of its trust
//       bundle, and the reason when it failed. --json prints the same as a JSON object.
//
//   capifctl enroll-invoker --config FILE [--ttl-seconds N]
//       Issues a one-time enrollment token for API invoker onboarding (TS 29.222 POST
//       onboardedInvokers with "Authorization: Bearer <token>"), valid N seconds (default 3600),
//       stored as a digest in the CCF's database. Prints only the token.
//   capifctl enroll-provider --config FILE [--ttl-seconds N]
//       The same for API provider domain registration: the token is the regSec of TS 29.222
//       POST /api-provider-management/v1/registrations.
//   capifctl rotate-token-key --config FILE
//       Adds a new ES256 token-signing key to the CCF's database, sealed with <data_dir>/kek
//       (run it as the user ccfd runs as: the kek file must be that user's); ccfd signs with it
//       from its next start, and keeps publishing the older keys until they retire (7 days).
//
// Exit codes (peers): 0 every peer reachable; 1 at least one peer unreachable or refusing; 2 bad
// arguments or configuration.
#ifndef CAPIF_TOOLS_CAPIFCTL_CAPIFCTL_COMMAND_H_
#define CAPIF_TOOLS_CAPIFCTL_CAPIFCTL_COMMAND_H_

#include <ostream>
#include <string>
#include <vector>

namespace capif {

int RunCapifctl(const std::vector<std::string>& args, std::ostream& out, std::ostream& err);

}  // namespace capif

#endif  // CAPIF_TOOLS_CAPIFCTL_CAPIFCTL_COMMAND_H_
