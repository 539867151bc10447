// TS 29.222 CAPIF_Publish_Service_API (clause 8.2), /published-apis/v1:
//
//   POST   /{apfId}/service-apis                  publish a ServiceAPIDescription
//   GET    /{apfId}/service-apis                  the APF's published APIs
//   GET    /{apfId}/service-apis/{serviceApiId}
//   PUT    /{apfId}/service-apis/{serviceApiId}   replace
//   DELETE /{apfId}/service-apis/{serviceApiId}   unpublish
//
// Every call needs mutual TLS as the APF named in the path (spiffe://<td>/apf/<apfId>), which
// must be registered. Each aefProfiles[].aefId must be a registered AEF of the APF's own API
// provider domain. Checked against the schema: apiName; aefProfiles (at least one) with aefId,
// versions[].apiVersion, exactly one of domainName / interfaceDescriptions, each interface with
// exactly one of ipv4Addr / ipv6Addr / fqdn, port 0-65535; securityMethods from PSK, PKI,
// OAUTH; shareableInfo.isShareable. The CCF assigns apiId (= serviceApiId).
//
// Errors: 400 (invalidParams), 401 no client certificate, 403 caller is not that APF or an AEF
// is not of its domain, 404 unknown service API. Thread-safe.
#ifndef CAPIF_CCF_API_PUBLISH_SERVICE_API_H_
#define CAPIF_CCF_API_PUBLISH_SERVICE_API_H_

#include <set>
#include <string>

#include <nlohmann/json.hpp>

#include "absl/status/statusor.h"
#include "net/rest_router.h"
#include "net/rest_types.h"
#include "ccf/store/provider_registry.h"
#include "ccf/store/service_apis.h"
#include "common/certificate_authority.h"

namespace capif {

inline constexpr char kPublishRoot[] = "/published-apis/v1";

struct PublishServiceConfig {
  ProviderRegistry* providers;
  ServiceApiRepository* service_apis;
  const CertificateAuthority* ca;
  std::string api_root;
};

class PublishServiceApi {
 public:
  explicit PublishServiceApi(PublishServiceConfig config) : config_(std::move(config)) {}

  void RegisterRoutes(RestRouter& server);

  absl::StatusOr<RestResponse> Publish(const RestRequest& req);
  absl::StatusOr<RestResponse> List(const RestRequest& req);
  absl::StatusOr<RestResponse> Get(const RestRequest& req);
  absl::StatusOr<RestResponse> Replace(const RestRequest& req);
  // PATCH: ServiceAPIDescriptionPatch as a JSON Merge Patch (application/merge-patch+json) of
  // the published description, checked and stored as a PUT of the result.
  absl::StatusOr<RestResponse> Patch(const RestRequest& req);
  absl::StatusOr<RestResponse> Unpublish(const RestRequest& req);

 private:
  // Replaces service API `id` of `apf_id` with the description `api` (PUT and PATCH).
  absl::StatusOr<RestResponse> Store(const std::string& apf_id, const std::string& id,
                                     nlohmann::json api);
  absl::StatusOr<std::string> RequireApf(const RestRequest& req);
  absl::Status CheckAefsOfDomain(const nlohmann::json& api, const std::string& apf_id);

  PublishServiceConfig config_;
};

// Validates a ServiceAPIDescription body as described above. Shared with the federation flows.
absl::Status ValidateServiceApiDescription(const nlohmann::json& api);

// The members of an InterfaceDescription an AEF is found by; a member of the wrong type is a 400
// naming `at` + the member.
absl::StatusOr<InterfaceAddress> InterfaceAddressOfJson(const nlohmann::json& i,
                                                        const std::string& at);

// The record of a validated ServiceAPIDescription (with its apiId) that `apf_id` publishes: the
// one conversion from the TS 29.222 document to what the CCF stores and queries.
ServiceApiRecord ServiceApiRecordOf(const nlohmann::json& api, const std::string& apf_id);

// The ServiceAPIDescriptions of `apis`, as published; unreadable ones are skipped.
std::vector<nlohmann::json> DescriptionsOf(const std::vector<ServiceApiRecord>& apis);

}  // namespace capif

#endif  // CAPIF_CCF_API_PUBLISH_SERVICE_API_H_
