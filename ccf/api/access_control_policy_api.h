// TS 29.222 CAPIF_Access_Control_Policy_API (clause 8.x), /access-control-policy/v1:
//
//   GET /accessControlPolicyList/{serviceApiId}?aef-id=<aefId>[&api-invoker-id=<id>]
//
// For an AEF (mutual TLS with its certificate; aef-id must be the caller, registered here and
// an AEF of that published API): the API invokers authorized to invoke the API at that AEF,
// as ApiInvokerPolicy entries. An invoker is authorized when its security context here has an
// entry for the AEF that covers the API, or, for an invoker onboarded at a peer CCF, when the
// grant that peer obtained for it (TS 23.222 8.25; RequestSecurityMethod) for this AEF and API
// stands. Each policy gives the time the authorization began as the start of its one open time
// range; no invocation counts or rates are configured, so none are given (no limit).
//
// Errors (ProblemDetails): 400 no aef-id; 401 no client certificate; 403 a caller other than
// that registered AEF; 404 no such API of that AEF. Thread-safe.
#ifndef CAPIF_CCF_API_ACCESS_CONTROL_POLICY_API_H_
#define CAPIF_CCF_API_ACCESS_CONTROL_POLICY_API_H_

#include "absl/status/statusor.h"
#include "ccf/store/provider_registry.h"
#include "ccf/store/remote_grants.h"
#include "ccf/store/security_contexts.h"
#include "ccf/store/service_apis.h"
#include "common/certificate_authority.h"
#include "common/clock.h"
#include "net/rest_router.h"
#include "net/rest_types.h"

namespace capif {

inline constexpr char kAccessControlPolicyRoot[] = "/access-control-policy/v1";

struct AccessControlPolicyConfig {
  ProviderRegistry* providers;
  ServiceApiRepository* service_apis;
  SecurityContextRepository* contexts;
  RemoteGrantRepository* grants;  // may be null (no peers)
  const CertificateAuthority* ca;
  const Clock* clock;
};

class AccessControlPolicyApi {
 public:
  explicit AccessControlPolicyApi(AccessControlPolicyConfig config) : config_(config) {}
  void RegisterRoutes(RestRouter& server);
  absl::StatusOr<RestResponse> Get(const RestRequest& req);

 private:
  AccessControlPolicyConfig config_;
};

}  // namespace capif

#endif  // CAPIF_CCF_API_ACCESS_CONTROL_POLICY_API_H_
