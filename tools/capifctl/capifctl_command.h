// The capifctl operator command line.
//
//   capifctl peers --config FILE [--timeout-ms N] [--json]
//       Greets every configured peer of the CCF described by FILE (its ccfd configuration),
//       over the bus with that CCF's own certificate, all peers in parallel. For each peer:
//       reachable or not, the identity it presented, CONNECT (first Hello: TCP and TLS handshake
//       included), RTT (a second Hello on the established channel), the sequence of its trust
//       bundle, and the reason when it failed. --json prints the same as a JSON object.
//
// The commands that change a CCF do it through the running ccfd's admin API, on the unix socket
// <data_dir>/admin.sock (data_dir from FILE; proto/admin.proto), never by opening its database:
// ccfd must be running, and capifctl must run as the user ccfd runs as (the socket is 0600).
// Without a running ccfd they exit 1 with "ccfd is not running (no admin socket at ...); start
// it first" and create nothing.
//
//   capifctl enroll-invoker --config FILE [--ttl-seconds N]
//       Issues a one-time enrollment token for API invoker onboarding (TS 29.222 POST
//       onboardedInvokers with "Authorization: Bearer <token>"), valid N seconds (default 3600),
//       stored as a digest in the CCF's database. Prints only the token.
//   capifctl enroll-provider --config FILE [--ttl-seconds N]
//       The same for API provider domain registration: the token is the regSec of TS 29.222
//       POST /api-provider-management/v1/registrations.
//   capifctl rotate-token-key --config FILE
//       Adds a new ES256 token-signing key (sealed with ccfd's <data_dir>/kek); ccfd signs with it
//       at once and publishes it in its JWKS beside the older keys until they retire (7 days).
//   capifctl notices --config FILE [--json]
//       The offboarding/revocation notices not acknowledged yet: destination, attempts, next
//       attempt, last error.
//   capifctl drop-grants --config FILE [--invoker ID]
//       A testing/operations aid: removes the CCF's grants for peers' invokers (only ID's with
//       --invoker), as if its database had been restored from an older backup; the AEFs' next
//       requests make it find those invokers' homes with the ownership query (#14). Prints
//       "<N> grant(s) dropped".
//
// Exit codes (the commands above): 0 done; 1 no ccfd running, or it refused; 2 bad arguments or
// configuration.
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
