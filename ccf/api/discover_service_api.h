// TS 29.222 CAPIF_Discover_Service_API (clause 8.3):
//
//   GET /service-apis/v1/allServiceAPIs?api-invoker-id=<id>[&filters]
//
// The caller must be that onboarded invoker (mutual TLS, spiffe://<td>/invoker/<id>).
// Filters applied: api-name, api-cat (serviceAPICategory), api-supported-features (apiSuppFeats),
// and, per AEF profile, aef-id, api-version, protocol, data-format and comm-type (of any
// resource or custom operation). An API is returned with only the AEF profiles that match;
// an API with none is left out. Other query parameters of the spec (preferred-aef-loc,
// req-api-prov-name, supported-features, ue-ip-addr, service-kpis) are accepted and not used.
// APIs that peer CCFs share with this one (TS 23.222 8.25, fetched over CAPIF-6/6e) are added
// after the local ones, filtered the same way, each with the ccfId of the CCF that shares it.
// The answer is a DiscoveredAPIs object, serviceAPIDescriptions omitted when nothing matched.
//
// Errors: 400 api-invoker-id missing, 401 no client certificate, 403 another invoker's id,
// 404 the invoker is not onboarded. Thread-safe.
#ifndef CAPIF_CCF_API_DISCOVER_SERVICE_API_H_
#define CAPIF_CCF_API_DISCOVER_SERVICE_API_H_

#include <map>
#include <string>

#include <nlohmann/json.hpp>

#include "absl/status/statusor.h"
#include "net/rest_router.h"
#include "federation/peer_requests.h"
#include "net/rest_types.h"
#include "ccf/store/service_apis.h"
#include "ccf/store/stores.h"
#include "common/certificate_authority.h"

namespace capif {

struct DiscoverServiceConfig {
  ServiceApiRepository* service_apis;
  InvokerStore* invokers;
  const CertificateAuthority* ca;
  // Service APIs shared by peer CCFs (CAPIF interconnection); null: local APIs only.
  PeerRequests* remote = nullptr;
};

class DiscoverServiceApi {
 public:
  explicit DiscoverServiceApi(DiscoverServiceConfig config) : config_(std::move(config)) {}
  void RegisterRoutes(RestRouter& server);
  absl::StatusOr<RestResponse> Discover(const RestRequest& req);

 private:
  DiscoverServiceConfig config_;
};

// `api` restricted to the AEF profiles matching `filters` (query name -> value), or null when
// the API as a whole does not match. Shared with federation's shareable-API discovery.
nlohmann::json FilterServiceApi(const nlohmann::json& api,
                                const std::multimap<std::string, std::string>& filters);

}  // namespace capif

#endif  // CAPIF_CCF_API_DISCOVER_SERVICE_API_H_
