#include "ccf/api/publish_service_api.h"

#include <arpa/inet.h>

#include <set>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "ccf/api/certification.h"
#include "ccf/api/provider_management_api.h"
#include "common/log.h"
#include "common/status_macros.h"

namespace capif {
namespace {

using nlohmann::json;

absl::Status CheckSecurityMethods(const json& obj, const std::string& at) {
  auto it = obj.find("securityMethods");
  if (it == obj.end()) return absl::OkStatus();
  if (!it->is_array() || it->empty()) {
    return InvalidParamError(at + ".securityMethods", "must be a non-empty array");
  }
  for (const json& m : *it) {
    if (!m.is_string() || (m != "PSK" && m != "PKI" && m != "OAUTH")) {
      return InvalidParamError(at + ".securityMethods", "items must be PSK, PKI or OAUTH");
    }
  }
  return absl::OkStatus();
}

absl::Status CheckInterface(const json& i, const std::string& at) {
  if (!i.is_object()) return InvalidParamError(at, "must be an object");
  int hosts = 0;
  for (const char* k : {"ipv4Addr", "ipv6Addr", "fqdn"}) {
    if (!i.contains(k)) continue;
    ++hosts;
    if (!i[k].is_string() || i[k].get_ref<const std::string&>().empty()) {
      return InvalidParamError(absl::StrCat(at, ".", k), "must be a non-empty string");
    }
  }
  if (hosts != 1) return InvalidParamError(at, "needs exactly one of ipv4Addr, ipv6Addr, fqdn");
  unsigned char buf[16];
  if (i.contains("ipv4Addr") &&
      inet_pton(AF_INET, i["ipv4Addr"].get<std::string>().c_str(), buf) != 1) {
    return InvalidParamError(at + ".ipv4Addr", "is not an IPv4 address");
  }
  if (i.contains("ipv6Addr") &&
      inet_pton(AF_INET6, i["ipv6Addr"].get<std::string>().c_str(), buf) != 1) {
    return InvalidParamError(at + ".ipv6Addr", "is not an IPv6 address");
  }
  if (i.contains("port") &&
      (!i["port"].is_number_unsigned() || i["port"].get<uint64_t>() > 65535)) {
    return InvalidParamError(at + ".port", "must be an integer from 0 to 65535");
  }
  if (i.contains("apiPrefix") && !i["apiPrefix"].is_string()) {
    return InvalidParamError(at + ".apiPrefix", "must be a string");
  }
  return CheckSecurityMethods(i, at);
}

absl::Status CheckAefProfile(const json& p, const std::string& at) {
  if (!p.is_object()) return InvalidParamError(at, "must be an object");
  ASSIGN_OR_RETURN(const json* aef_id, RequiredMember(p, "aefId", at + ".", JsonType::kString));
  if (!IsValidIdSegment(aef_id->get<std::string>())) {
    return InvalidParamError(at + ".aefId", "is not a valid id (1-128 of [A-Za-z0-9._-])");
  }
  ASSIGN_OR_RETURN(const json* versions,
                   RequiredMember(p, "versions", at + ".", JsonType::kArray, /*non_empty=*/true));
  for (size_t v = 0; v < versions->size(); ++v) {
    const json& ver = (*versions)[v];
    std::string ver_at = absl::StrCat(at, ".versions[", v, "]");
    if (!ver.is_object()) return InvalidParamError(ver_at, "must be an object");
    RETURN_IF_ERROR(RequiredMember(ver, "apiVersion", ver_at + ".", JsonType::kString).status());
  }
  bool has_domain = p.contains("domainName");
  bool has_interfaces = p.contains("interfaceDescriptions");
  if (has_domain == has_interfaces) {
    return InvalidParamError(at, "needs exactly one of domainName, interfaceDescriptions");
  }
  if (has_domain && !p["domainName"].is_string()) {
    return InvalidParamError(at + ".domainName", "must be a string");
  }
  if (has_interfaces) {
    const json& ifs = p["interfaceDescriptions"];
    if (!ifs.is_array() || ifs.empty()) {
      return InvalidParamError(at + ".interfaceDescriptions", "must be a non-empty array");
    }
    for (size_t k = 0; k < ifs.size(); ++k) {
      RETURN_IF_ERROR(CheckInterface(ifs[k], absl::StrCat(at, ".interfaceDescriptions[", k, "]")));
    }
  }
  for (const char* k : {"protocol", "dataFormat"}) {
    if (p.contains(k) && !p[k].is_string()) {
      return InvalidParamError(absl::StrCat(at, ".", k), "must be a string");
    }
  }
  return CheckSecurityMethods(p, at);
}

}  // namespace

absl::Status ValidateServiceApiDescription(const json& api) {
  RETURN_IF_ERROR(
      RequiredMember(api, "apiName", "", JsonType::kString, /*non_empty=*/true).status());
  RETURN_IF_ERROR(
      RequiredMember(api, "aefProfiles", "", JsonType::kArray, /*non_empty=*/true).status());
  for (size_t i = 0; i < api["aefProfiles"].size(); ++i) {
    RETURN_IF_ERROR(CheckAefProfile(api["aefProfiles"][i], absl::StrCat("aefProfiles[", i, "]")));
  }
  for (const char* k : {"description", "supportedFeatures", "serviceAPICategory", "apiSuppFeats",
                        "ccfId"}) {
    if (api.contains(k) && !api[k].is_string()) return InvalidParamError(k, "must be a string");
  }
  if (api.contains("shareableInfo")) {
    const json& s = api["shareableInfo"];
    if (!s.is_object()) return InvalidParamError("shareableInfo", "must be an object");
    RETURN_IF_ERROR(
        RequiredMember(s, "isShareable", "shareableInfo.", JsonType::kBoolean).status());
    if (s.contains("capifProvDoms")) {
      const json& d = s["capifProvDoms"];
      bool ok = d.is_array() && !d.empty();
      for (const json& x : d) ok = ok && x.is_string();
      if (!ok) return InvalidParamError("shareableInfo.capifProvDoms", "must be a non-empty array of strings");
    }
  }
  for (const char* k : {"apiStatus", "pubApiPath"}) {
    if (api.contains(k) && !api[k].is_object()) return InvalidParamError(k, "must be an object");
  }
  return absl::OkStatus();
}

absl::StatusOr<InterfaceAddress> InterfaceAddressOfJson(const json& i, const std::string& at) {
  InterfaceAddress a;
  for (auto [key, field] : {std::pair{"ipv4Addr", &a.ipv4_addr}, std::pair{"ipv6Addr", &a.ipv6_addr},
                            std::pair{"fqdn", &a.fqdn}, std::pair{"apiPrefix", &a.api_prefix}}) {
    auto it = i.find(key);
    if (it == i.end()) continue;
    if (!it->is_string()) return InvalidParamError(absl::StrCat(at, ".", key), "must be a string");
    *field = it->get<std::string>();
  }
  auto port = i.find("port");
  if (port != i.end()) {
    if (!port->is_number_integer()) return InvalidParamError(at + ".port", "must be an integer");
    a.port = port->get<int64_t>();
  }
  return a;
}

ServiceApiRecord ServiceApiRecordOf(const json& api, const std::string& apf_id) {
  ServiceApiRecord r;
  r.api_id = api.value("apiId", "");
  r.apf_id = apf_id;
  r.api_name = api.value("apiName", "");
  if (auto share = api.find("shareableInfo"); share != api.end() && share->is_object()) {
    r.shareable = share->value("isShareable", false);
    for (const json& d : share->value("capifProvDoms", json::array())) {
      if (d.is_string()) r.shareable_with.push_back(d.get<std::string>());
    }
  }
  for (const json& p : api.value("aefProfiles", json::array())) {
    if (!p.is_object()) continue;
    ServiceApiAef aef{p.value("aefId", ""), {}};
    for (const json& i : p.value("interfaceDescriptions", json::array())) {
      absl::StatusOr<InterfaceAddress> a = InterfaceAddressOfJson(i, "");
      if (a.ok()) aef.interfaces.push_back(*std::move(a));
    }
    r.aefs.push_back(std::move(aef));
  }
  r.description = api.dump();
  return r;
}

std::vector<json> DescriptionsOf(const std::vector<ServiceApiRecord>& apis) {
  std::vector<json> out;
  for (const ServiceApiRecord& r : apis) {
    json api = json::parse(r.description, nullptr, false);
    if (api.is_object()) out.push_back(std::move(api));
  }
  return out;
}

void PublishServiceApi::RegisterRoutes(RestRouter& server) {
  const std::string base = std::string(kPublishRoot) + "/([^/]+)/service-apis";
  server.Route("POST", base, [this](const RestRequest& r) { return Publish(r); });
  server.Route("GET", base, [this](const RestRequest& r) { return List(r); });
  server.Route("GET", base + "/([^/]+)", [this](const RestRequest& r) { return Get(r); });
  server.Route("PUT", base + "/([^/]+)", [this](const RestRequest& r) { return Replace(r); });
  server.Route("DELETE", base + "/([^/]+)", [this](const RestRequest& r) { return Unpublish(r); });
  server.Route("PATCH", base + "/([^/]+)", [this](const RestRequest& r) { return Patch(r); });
}

absl::StatusOr<std::string> PublishServiceApi::RequireApf(const RestRequest& req) {
  std::string apf_id = req.path_params.empty() ? "" : req.path_params[0];
  if (!req.caller) return RestError(401, "a client certificate of the APF is required");
  if (req.caller->kind() != SpiffeId::Kind::kApf ||
      req.caller->trust_domain() != config_.ca->trust_domain() || req.caller->id() != apf_id) {
    LogWarning("security", absl::StrCat(req.caller->ToString(), " tried to publish as APF ",
                                        absl::CEscape(apf_id.substr(0, 64))));
    return RestError(403, "only the APF named in the path may use it", "OPERATION_NOT_ALLOWED");
  }
  if (!FindProviderFunction(*config_.providers, apf_id, ProviderRole::kApf).ok()) {
    return RestError(403, "the APF is not registered", "OPERATION_NOT_ALLOWED");
  }
  return apf_id;
}

absl::Status PublishServiceApi::CheckAefsOfDomain(const json& api, const std::string& apf_id) {
  ASSIGN_OR_RETURN(ProviderFunction apf,
                   FindProviderFunction(*config_.providers, apf_id, ProviderRole::kApf));
  for (size_t i = 0; i < api["aefProfiles"].size(); ++i) {
    std::string aef_id = api["aefProfiles"][i]["aefId"];
    auto aef = FindProviderFunction(*config_.providers, aef_id, ProviderRole::kAef);
    if (!aef.ok() || aef->domain_id != apf.domain_id) {
      return RestError(403, absl::StrCat("aefProfiles[", i, "].aefId: not a registered AEF of "
                                         "this API provider domain"),
                       "OPERATION_NOT_ALLOWED",
                       {{absl::StrCat("aefProfiles[", i, "].aefId"), "unknown AEF"}});
    }
  }
  return absl::OkStatus();
}

namespace {

// The registration changed between the check and the write (an AEF or the APF deregistered).
absl::Status PublisherGone(const absl::Status& s) {
  if (!absl::IsFailedPrecondition(s)) return s;
  return RestError(403, s.message(), "OPERATION_NOT_ALLOWED");
}

}  // namespace

absl::StatusOr<RestResponse> PublishServiceApi::Publish(const RestRequest& req) {
  ASSIGN_OR_RETURN(std::string apf_id, RequireApf(req));
  ASSIGN_OR_RETURN(json api, ParseJsonBody(req));
  if (api.contains("apiId")) return InvalidParamError("apiId", "is assigned by the CCF");
  RETURN_IF_ERROR(ValidateServiceApiDescription(api));
  RETURN_IF_ERROR(CheckAefsOfDomain(api, apf_id));
  std::string id = NewResourceId("api");
  api["apiId"] = id;
  RETURN_IF_ERROR(PublisherGone(config_.service_apis->Insert(ServiceApiRecordOf(api, apf_id))));
  LogInfo("publish", absl::StrCat(apf_id, " published ", id));
  RestResponse res = RestResponse::Json(201, api);
  res.headers.emplace_back("Location", absl::StrCat(config_.api_root, kPublishRoot, "/", apf_id,
                                                    "/service-apis/", id));
  return res;
}

absl::StatusOr<RestResponse> PublishServiceApi::List(const RestRequest& req) {
  ASSIGN_OR_RETURN(std::string apf_id, RequireApf(req));
  ASSIGN_OR_RETURN(std::vector<ServiceApiRecord> apis, config_.service_apis->OfApf(apf_id));
  json out = json::array();
  for (json& api : DescriptionsOf(apis)) out.push_back(std::move(api));
  return RestResponse::Json(200, out);
}

absl::StatusOr<RestResponse> PublishServiceApi::Get(const RestRequest& req) {
  ASSIGN_OR_RETURN(std::string apf_id, RequireApf(req));
  ASSIGN_OR_RETURN(std::optional<ServiceApiRecord> r, config_.service_apis->Get(req.path_params[1]));
  if (!r || r->apf_id != apf_id) return RestError(404, "no such service API", "RESOURCE_NOT_FOUND");
  std::vector<json> api = DescriptionsOf({*r});
  if (api.empty()) return absl::InternalError("a stored service API does not parse");
  return RestResponse::Json(200, api[0]);
}

absl::StatusOr<RestResponse> PublishServiceApi::Replace(const RestRequest& req) {
  ASSIGN_OR_RETURN(std::string apf_id, RequireApf(req));
  ASSIGN_OR_RETURN(json api, ParseJsonBody(req));
  return Store(apf_id, req.path_params[1], std::move(api));
}

absl::StatusOr<RestResponse> PublishServiceApi::Patch(const RestRequest& req) {
  ASSIGN_OR_RETURN(std::string apf_id, RequireApf(req));
  ASSIGN_OR_RETURN(json patch, ParseMergePatchBody(req, {"apiStatus", "aefProfiles", "description",
                                                         "shareableInfo", "serviceAPICategory",
                                                         "apiSuppFeats", "pubApiPath", "ccfId"}));
  const std::string& id = req.path_params[1];
  ASSIGN_OR_RETURN(std::optional<ServiceApiRecord> r, config_.service_apis->Get(id));
  if (!r || r->apf_id != apf_id) return RestError(404, "no such service API", "RESOURCE_NOT_FOUND");
  std::vector<json> current = DescriptionsOf({*r});
  if (current.empty()) return absl::InternalError("a stored service API does not parse");
  current[0].merge_patch(patch);  // RFC 7396: members replaced, null removes, arrays whole
  return Store(apf_id, id, std::move(current[0]));
}

absl::StatusOr<RestResponse> PublishServiceApi::Store(const std::string& apf_id,
                                                      const std::string& id, json api) {
  if (api.contains("apiId") && api["apiId"] != id) {
    return InvalidParamError("apiId", "must equal the serviceApiId of the resource");
  }
  RETURN_IF_ERROR(ValidateServiceApiDescription(api));
  ASSIGN_OR_RETURN(std::optional<ServiceApiRecord> r, config_.service_apis->Get(id));
  if (!r || r->apf_id != apf_id) return RestError(404, "no such service API", "RESOURCE_NOT_FOUND");
  RETURN_IF_ERROR(CheckAefsOfDomain(api, apf_id));
  api["apiId"] = id;
  absl::Status s = config_.service_apis->Replace(ServiceApiRecordOf(api, apf_id));
  if (absl::IsNotFound(s)) return RestError(404, "no such service API", "RESOURCE_NOT_FOUND");
  RETURN_IF_ERROR(PublisherGone(s));
  return RestResponse::Json(200, api);
}

absl::StatusOr<RestResponse> PublishServiceApi::Unpublish(const RestRequest& req) {
  ASSIGN_OR_RETURN(std::string apf_id, RequireApf(req));
  absl::Status s = config_.service_apis->Delete(req.path_params[1], apf_id);
  if (absl::IsNotFound(s)) return RestError(404, "no such service API", "RESOURCE_NOT_FOUND");
  RETURN_IF_ERROR(s);
  return RestResponse::NoContent();
}

}  // namespace capif
