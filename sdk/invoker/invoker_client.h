// CapifInvoker: what an API invoker does with its CCF over TS 29.222 (first part):
// onboard, discover, request security methods (deriving its AEFPSKs on its side of the very TLS
// session the CCF uses), obtain access tokens, offboard.
//
//   ASSIGN_OR_RETURN(auto inv, CapifInvoker::Onboard(api_root, ca_pem, enrollment_token,
//                                                    "https://me.example/cb"));
//   ASSIGN_OR_RETURN(nlohmann::json apis, inv->Discover({{"api-name", "location-query"}}));
//   ASSIGN_OR_RETURN(SecurityContext ctx, inv->RequestSecurityMethods(apis, {"PSK", "OAUTH"}));
//   ctx.aef_psks["aef-…"]      // the AEFPSK for a PSK-selected AEF
//   ASSIGN_OR_RETURN(AccessToken t, inv->RequestToken("3gpp#aef-…:location-query"));
//
// Errors: Unavailable (network/TLS), or the CCF's refusal as a status whose message carries the
// ProblemDetails detail / AccessTokenErr error (InvalidArgument 400, Unauthenticated 401,
// PermissionDenied 403, NotFound 404, ...). Thread-compatible.
#ifndef CAPIF_SDK_INVOKER_INVOKER_CLIENT_H_
#define CAPIF_SDK_INVOKER_INVOKER_CLIENT_H_

#include <map>
#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "absl/status/statusor.h"
#include "common/evp_key.h"
#include "common/secret_bytes.h"
#include "net/https_client.h"

namespace capif {

struct SecurityContext {
  nlohmann::json service_security;             // the CCF's answer (ServiceSecurity)
  std::map<std::string, SecretBytes> aef_psks;  // aefId -> AEFPSK, for PSK-selected entries
};

struct AccessToken {
  std::string token;
  int64_t expires_in = 0;
  std::string scope;
};

class CapifInvoker {
 public:
  // Generates a key, sends its CSR with the one-time enrollment token.
  static absl::StatusOr<std::unique_ptr<CapifInvoker>> Onboard(
      const std::string& api_root, const std::string& ca_pem, const std::string& enrollment_token,
      const std::string& notification_destination, int max_tls_version = 0);

  const std::string& api_invoker_id() const { return id_; }
  const std::string& certificate_pem() const { return certificate_pem_; }
  const EvpKey& key() const { return key_; }
  const SecretBytes& onboarding_secret() const { return secret_; }

  // DiscoveredAPIs.serviceAPIDescriptions (an empty array when nothing matched).
  absl::StatusOr<nlohmann::json> Discover(const std::map<std::string, std::string>& filters = {});

  // PUT trustedInvokers for every AEF profile of `service_apis` (as discovered), with the given
  // preference. AEFPSKs are derived for the entries where the CCF selected PSK.
  absl::StatusOr<SecurityContext> RequestSecurityMethods(const nlohmann::json& service_apis,
                                                         const std::vector<std::string>& preferred);
  // POST trustedInvokers/{id}/update with the same entries: renegotiates them on a new TLS
  // session (for PSK a new AEFPSK, which replaces the old one at the CCF and its AEFs).
  absl::StatusOr<SecurityContext> UpdateSecurityMethods(const nlohmann::json& service_apis,
                                                        const std::vector<std::string>& preferred);

  // With `assertion_audience` (the id of the CCF of the AEFs, for AEFs of another domain) a
  // client assertion is sent too: a JWT signed with this invoker's key, iss = sub = its id,
  // aud = that CCF, valid 2 minutes, fresh jti (TR 33.700-22 #15).
  absl::StatusOr<AccessToken> RequestToken(const std::string& scope,
                                           const std::string& assertion_audience = "");
  // The client assertion described above (exposed for replay tests).
  absl::StatusOr<std::string> ClientAssertion(const std::string& audience) const;
  absl::StatusOr<AccessToken> RequestTokenWithAssertion(const std::string& scope,
                                                        const std::string& assertion);
  // The form body RequestToken() POSTs to TokenUrl() (with a fresh assertion when an audience
  // is given), for callers that send it on their own connection (load tools).
  absl::StatusOr<std::string> TokenRequestForm(const std::string& scope,
                                               const std::string& assertion_audience = "") const;
  std::string TokenUrl() const;

  // DELETE trustedInvokers/{id}: gives up every security method granted so far (the CCF tells
  // the CCFs of other domains' AEFs). The invoker stays onboarded.
  absl::Status DeleteSecurityContext();

  absl::Status Offboard();

 private:
  // PUT (create) or POST .../update (`update`) of the entries for `service_apis`.
  absl::StatusOr<SecurityContext> SendSecurityMethods(const nlohmann::json& service_apis,
                                                      const std::vector<std::string>& preferred,
                                                      bool update);

  CapifInvoker(std::string api_root, std::string ca_pem, EvpKey key, int max_tls)
      : api_root_(std::move(api_root)), ca_pem_(std::move(ca_pem)), key_(std::move(key)),
        max_tls_(max_tls) {}
  absl::StatusOr<std::unique_ptr<HttpsClient>> Client(bool with_certificate) const;

  std::string api_root_, ca_pem_;
  EvpKey key_;
  int max_tls_;
  std::string id_, certificate_pem_, notification_destination_;
  SecretBytes secret_;
};

// The error status for a non-2xx response (ProblemDetails or AccessTokenErr body).
absl::Status StatusFromHttp(const HttpsResponse& r);

}  // namespace capif

#endif  // CAPIF_SDK_INVOKER_INVOKER_CLIENT_H_
