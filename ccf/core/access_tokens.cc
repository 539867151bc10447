#include "ccf/core/access_tokens.h"

#include <nlohmann/json.hpp>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "common/jws.h"
#include "common/secret_bytes.h"
#include "common/status_macros.h"

namespace capif {

absl::StatusOr<std::string> MintAccessToken(const TokenKeyring& keyring, const std::string& issuer,
                                            const std::string& client_id,
                                            const std::string& scope,
                                            const std::vector<std::string>& audience,
                                            absl::Time now, absl::Duration validity) {
  nlohmann::json claims = {
      {"iss", issuer},
      {"sub", client_id},
      {"client_id", client_id},
      {"scope", scope},
      {"iat", NumericDateOf(now)},
      {"exp", absl::ToUnixSeconds(now + validity)},
      {"jti", absl::StrCat("jti-", absl::BytesToHexString(
                                       SecretBytes::Random(16).Reveal(InsecureSecretAccess())))}};
  claims["aud"] = audience.size() == 1 ? nlohmann::json(audience[0]) : nlohmann::json(audience);
  return keyring.signer()->Sign("at+jwt", claims);
}

}  // namespace capif
