#include "sdk/provider/provider_client.h"

#include "common/status_macros.h"
#include "common/x509_cert.h"
#include "net/https_client.h"
#include "sdk/invoker/invoker_client.h"

namespace capif {

using nlohmann::json;

absl::StatusOr<RegisteredProvider> RegisterApiProvider(const std::string& api_root,
                                                       const std::string& ca_pem,
                                                       const std::string& reg_sec,
                                                       const EvpKey& key) {
  ASSIGN_OR_RETURN(std::string csr, CreateCsrPem(key));
  json body = {{"regSec", reg_sec}, {"apiProvFuncs", json::array()}};
  for (const char* role : {"AMF", "APF", "AEF"}) {
    body["apiProvFuncs"].push_back({{"apiProvFuncRole", role}, {"regInfo", {{"apiProvPubKey", csr}}}});
  }
  ASSIGN_OR_RETURN(auto client, HttpsClient::Create({ca_pem}));
  ASSIGN_OR_RETURN(HttpsResponse r,
                   client->Request("POST", api_root + "/api-provider-management/v1/registrations",
                                   body.dump(), "application/json"));
  RETURN_IF_ERROR(StatusFromHttp(r));
  json funcs = json::parse(r.body, nullptr, false).value("apiProvFuncs", json::array());
  RegisteredProvider p;
  for (const json& f : funcs) {
    std::string role = f.value("apiProvFuncRole", ""), id = f.value("apiProvFuncId", "");
    std::string cert = f.value("regInfo", json::object()).value("apiProvCert", "");
    if (role == "AMF") std::tie(p.amf_id, p.amf_certificate_pem) = std::tie(id, cert);
    if (role == "APF") std::tie(p.apf_id, p.apf_certificate_pem) = std::tie(id, cert);
    if (role == "AEF") std::tie(p.aef_id, p.aef_certificate_pem) = std::tie(id, cert);
  }
  if (p.amf_id.empty() || p.apf_id.empty() || p.aef_id.empty()) {
    return absl::InternalError("the registration answer lacks a function");
  }
  return p;
}

absl::StatusOr<json> PublishServiceApi(const std::string& api_root, const std::string& ca_pem,
                                       const RegisteredProvider& provider, const EvpKey& key,
                                       const json& api) {
  ASSIGN_OR_RETURN(SecretBytes key_pem, key.PrivateKeyPem());
  ASSIGN_OR_RETURN(auto client,
                   HttpsClient::Create({ca_pem, provider.apf_certificate_pem, key_pem}));
  ASSIGN_OR_RETURN(HttpsResponse r,
                   client->Request("POST",
                                   api_root + "/published-apis/v1/" + provider.apf_id +
                                       "/service-apis",
                                   api.dump(), "application/json"));
  RETURN_IF_ERROR(StatusFromHttp(r));
  return json::parse(r.body, nullptr, false);
}

json SimpleServiceApi(const std::string& api_name, const std::string& aef_id,
                      const std::vector<std::string>& methods, const std::string& ipv4, int port,
                      bool shareable) {
  return {{"apiName", api_name},
          {"aefProfiles", {{{"aefId", aef_id},
                            {"versions", {{{"apiVersion", "v1"}}}},
                            {"securityMethods", methods},
                            {"interfaceDescriptions", {{{"ipv4Addr", ipv4}, {"port", port}}}}}}},
          {"shareableInfo", {{"isShareable", shareable}}}};
}

}  // namespace capif
