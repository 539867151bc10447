// The API provider side of TS 29.222 over HTTPS (libcurl): registering a provider domain with
// one AMF, APF and AEF (CAPIF-4, Provider Management API) and publishing a service API as the
// APF (CAPIF-4, Publish Service API). For tools and tests that stand up AEFs.
//
//   ASSIGN_OR_RETURN(RegisteredProvider p, RegisterApiProvider(api_root, ca_pem, reg_sec, key));
//   ASSIGN_OR_RETURN(json stored, PublishServiceApi(api_root, ca_pem, p, key,
//       SimpleServiceApi("location-query", p.aef_id, {"PSK"}, "127.0.0.1", 8443)));
//
// Errors: the CCF's refusal as a status with its ProblemDetails (sdk/invoker StatusFromHttp), or
// the transport's.
#ifndef CAPIF_SDK_PROVIDER_PROVIDER_CLIENT_H_
#define CAPIF_SDK_PROVIDER_PROVIDER_CLIENT_H_

#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "absl/status/statusor.h"
#include "common/evp_key.h"

namespace capif {

struct RegisteredProvider {
  std::string amf_id, apf_id, aef_id;
  std::string amf_certificate_pem, apf_certificate_pem, aef_certificate_pem;
};

// regSec = a one-time token from `capifctl enroll-provider`; all three functions are certified
// for `key` (a CSR made with it).
absl::StatusOr<RegisteredProvider> RegisterApiProvider(const std::string& api_root,
                                                       const std::string& ca_pem,
                                                       const std::string& reg_sec,
                                                       const EvpKey& key);

// POST service-apis as the provider's APF; the stored description (with apiId).
absl::StatusOr<nlohmann::json> PublishServiceApi(const std::string& api_root,
                                                 const std::string& ca_pem,
                                                 const RegisteredProvider& provider,
                                                 const EvpKey& key, const nlohmann::json& api);

// A ServiceAPIDescription with one AEF profile (version v1, these security methods) reachable
// at ipv4:port, shareable with peer CCFs or not.
nlohmann::json SimpleServiceApi(const std::string& api_name, const std::string& aef_id,
                                const std::vector<std::string>& methods, const std::string& ipv4,
                                int port, bool shareable = true);

}  // namespace capif

#endif  // CAPIF_SDK_PROVIDER_PROVIDER_CLIENT_H_
