// Minting of this CCF's OAuth 2.0 access tokens (TS 33.122 6.5.2.3, RFC 9068 profile), for its
// own invokers (Security API token endpoint) and for peers' invokers (TR 33.700-22 #15: a token
// request forwarded by the home CCF). One rule for both:
//
//   header  typ "at+jwt", alg ES256, kid of the keyring's current signer
//   claims  iss (this CCF), sub = client_id (the invoker), aud (the AEF id; an array when the
//           scope names several), scope, iat (to the microsecond), exp, jti (random, 128 bits)
//
// Errors: those of signing (Internal). Thread-safe.
#ifndef CAPIF_CCF_CORE_ACCESS_TOKENS_H_
#define CAPIF_CCF_CORE_ACCESS_TOKENS_H_

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "ccf/core/token_keyring.h"

namespace capif {

absl::StatusOr<std::string> MintAccessToken(const TokenKeyring& keyring, const std::string& issuer,
                                            const std::string& client_id,
                                            const std::string& scope,
                                            const std::vector<std::string>& audience,
                                            absl::Time now, absl::Duration validity);

}  // namespace capif

#endif  // CAPIF_CCF_CORE_ACCESS_TOKENS_H_
