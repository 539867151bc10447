// TS 29.222 CAPIF_API_Provider_Management_API (clause 8.9), /api-provider-management/v1:
//
//   POST   /registrations                    register an API provider domain: regSec is a
//                                            one-time token from `capifctl enroll-provider`
//   PUT    /registrations/{registrationId}   update (mutual TLS as an AMF of that domain)
//   DELETE /registrations/{registrationId}   deregister (mutual TLS as an AMF of that domain)
//
// Each API provider function (apiProvFuncs[]) sends regInfo.apiProvPubKey (PEM CSR or public
// key) and apiProvFuncRole (AEF, APF, AMF); the CCF assigns apiProvFuncId ("aef-…", "apf-…",
// "amf-…") and returns regInfo.apiProvCert with the URI SAN
// spiffe://<trust-domain>/<role>/<apiProvFuncId>. registrationId = apiProvDomId.
// On PUT, listed functions with an apiProvFuncId of this domain are updated (re-certified if
// their key changed), listed functions without one are added, and functions not listed are
// deregistered. Deregistering a domain also removes the service APIs its APFs published.
// regSec is never stored: responses carry the regSec of the request they answer (the schema
// requires it), and the stored registration has none.
//
// Errors (ProblemDetails): 400 (invalidParams names the field), 401 bad regSec or no client
// certificate, 403 caller is not an AMF of the domain, 404 unknown registration. A refused
// request changes nothing. Thread-safe.
#ifndef CAPIF_CCF_API_PROVIDER_MANAGEMENT_API_H_
#define CAPIF_CCF_API_PROVIDER_MANAGEMENT_API_H_

#include <string>

#include "absl/status/statusor.h"
#include "net/rest_router.h"
#include "net/rest_types.h"
#include "ccf/store/provider_registry.h"
#include "ccf/store/stores.h"
#include "common/certificate_authority.h"
#include "common/clock.h"

namespace capif {

inline constexpr char kProviderManagementRoot[] = "/api-provider-management/v1";

struct ProviderManagementConfig {
  ProviderRegistry* providers;
  EnrollmentTokenStore* enrollment_tokens;
  const CertificateAuthority* ca;
  const Clock* clock;
  std::string api_root;
  absl::Duration certificate_validity = absl::Hours(24 * 90);
};

class ProviderManagementApi {
 public:
  explicit ProviderManagementApi(ProviderManagementConfig config) : config_(std::move(config)) {}

  void RegisterRoutes(RestRouter& server);

  absl::StatusOr<RestResponse> Register(const RestRequest& req);
  absl::StatusOr<RestResponse> Update(const RestRequest& req);
  // PATCH: APIProviderEnrolmentDetailsPatch (application/merge-patch+json). apiProvDomInfo is
  // replaced (null removes it); each apiProvFuncs entry with an apiProvFuncId is merged into
  // that function (RFC 7396), one without is registered; unlisted functions stay. Checked and
  // stored as a PUT of the result; the answer's regSec is "" (the token is spent, not kept).
  absl::StatusOr<RestResponse> Patch(const RestRequest& req);
  absl::StatusOr<RestResponse> Deregister(const RestRequest& req);

 private:
  // The update of registration `dom_id` to the APIProviderEnrolmentDetails `body` (PUT and
  // PATCH), answered with `reg_sec_answer` as regSec.
  absl::StatusOr<RestResponse> Replace(const std::string& dom_id, const nlohmann::json& body,
                                       const nlohmann::json& reg_sec_answer);
  ProviderManagementConfig config_;
};

// The registered function with this id and role, or NotFound.
absl::StatusOr<ProviderFunction> FindProviderFunction(ProviderRegistry& registry,
                                                      const std::string& id, ProviderRole role);

}  // namespace capif

#endif  // CAPIF_CCF_API_PROVIDER_MANAGEMENT_API_H_
