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
  if (!p.contains("aefId") || !p["aefId"].is_string() || !IsValidIdSegment(p["aefId"].get<std::string>())) {
    return InvalidParamError(at + ".aefId", "is required (a valid id)");
  }
  if (!p.contains("versions") || !p["versions"].is_array() || p["versions"].empty()) {
    return InvalidParamError(at + ".versions", "is required (a non-empty array)");
  }
  for (size_t v = 0; v < p["versions"].size(); ++v) {
    const json& ver = p["versions"][v];
    if (!ver.is_object() || !ver.contains("apiVersion") || !ver["apiVersion"].is_string()) {
      return InvalidParamError(absl::StrCat(at, ".versions[", v, "].apiVersion"),
                               "is required (a string)");
    }
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
  if (!api.contains("apiName") || !api["apiName"].is_string() ||
      api["apiName"].get_ref<const std::string&>().empty()) {
    return InvalidParamError("apiName", "is required (a non-empty string)");
  }
  if (!api.contains("aefProfiles") || !api["aefProfiles"].is_array() || api["aefProfiles"].empty()) {
    return InvalidParamError("aefProfiles", "is required (a non-empty array)");
  }
  for (size_t i = 0; i < api["aefProfiles"].size(); ++i) {
    RETURN_IF_ERROR(CheckAefProfile(api["aefProfiles"][i], absl::StrCat("aefProfiles[", i, "]")));
  }
  for (const char* k : {"description", "supportedFeatures", "serviceAPICategory", "apiSuppFeats",
                        "ccfId"}) {
    if (api.contains(k) && !api[k].is_string()) return InvalidParamError(k, "must be a string");
  }
  if (api.contains("shareableInfo")) {
    const json& s = api["shareableInfo"];
    if (!s.is_object() || !s.contains("isShareable") || !s["isShareable"].is_boolean()) {
      return InvalidParamError("shareableInfo.isShareable", "is required (a boolean)");
    }
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

absl::StatusOr<std::vector<json>> PublishedApis(ResourceStore& resources) {
  ASSIGN_OR_RETURN(std::vector<Resource> stored, resources.List(kResourceServiceApi, ""));
  std::vector<json> out;
  for (const Resource& r : stored) {
    json api = json::parse(r.json, nullptr, false);
    if (api.is_object()) out.push_back(std::move(api));
  }
  return out;
}

absl::StatusOr<std::set<std::string>> PublishedApiNames(ResourceStore& resources,
                                                        const std::vector<std::string>& api_ids) {
  std::set<std::string> names;
  for (const std::string& id : api_ids) {
    ASSIGN_OR_RETURN(std::optional<Resource> api, resources.Get(kResourceServiceApi, id));
    if (!api) continue;
    json doc = json::parse(api->json, nullptr, false);
    if (doc.is_object() && doc.contains("apiName") && doc["apiName"].is_string()) {
      names.insert(doc["apiName"].get<std::string>());
    }
  }
  return names;
}

void PublishServiceApi::RegisterRoutes(HttpsServer& server) {
  const std::string base = std::string(kPublishRoot) + "/([^/]+)/service-apis";
  server.Route("POST", base, [this](const RestRequest& r) { return Publish(r); });
  server.Route("GET", base, [this](const RestRequest& r) { return List(r); });
  server.Route("GET", base + "/([^/]+)", [this](const RestRequest& r) { return Get(r); });
  server.Route("PUT", base + "/([^/]+)", [this](const RestRequest& r) { return Replace(r); });
  server.Route("DELETE", base + "/([^/]+)", [this](const RestRequest& r) { return Unpublish(r); });
  server.Route("PATCH", base + "/([^/]+)", [](const RestRequest&) -> absl::StatusOr<RestResponse> {
    return RestError(501, "PATCH of a service API is not implemented yet; use PUT");
  });
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
  if (!FindProviderFunction(*config_.resources, apf_id, "APF").ok()) {
    return RestError(403, "the APF is not registered", "OPERATION_NOT_ALLOWED");
  }
  return apf_id;
}

absl::Status PublishServiceApi::CheckAefsOfDomain(const json& api, const std::string& apf_id) {
  ASSIGN_OR_RETURN(Resource apf, FindProviderFunction(*config_.resources, apf_id, "APF"));
  for (size_t i = 0; i < api["aefProfiles"].size(); ++i) {
    std::string aef_id = api["aefProfiles"][i]["aefId"];
    auto aef = FindProviderFunction(*config_.resources, aef_id, "AEF");
    if (!aef.ok() || aef->owner != apf.owner) {
      return RestError(403, absl::StrCat("aefProfiles[", i, "].aefId: not a registered AEF of "
                                         "this API provider domain"),
                       "OPERATION_NOT_ALLOWED",
                       {{absl::StrCat("aefProfiles[", i, "].aefId"), "unknown AEF"}});
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<RestResponse> PublishServiceApi::Publish(const RestRequest& req) {
  ASSIGN_OR_RETURN(std::string apf_id, RequireApf(req));
  ASSIGN_OR_RETURN(json api, ParseJsonBody(req));
  if (api.contains("apiId")) return InvalidParamError("apiId", "is assigned by the CCF");
  RETURN_IF_ERROR(ValidateServiceApiDescription(api));
  RETURN_IF_ERROR(CheckAefsOfDomain(api, apf_id));
  std::string id = NewResourceId("api");
  api["apiId"] = id;
  RETURN_IF_ERROR(config_.resources->Insert({kResourceServiceApi, id, apf_id, api.dump()}));
  LogInfo("publish", absl::StrCat(apf_id, " published ", id));
  RestResponse res = RestResponse::Json(201, api);
  res.headers.emplace_back("Location", absl::StrCat(config_.api_root, kPublishRoot, "/", apf_id,
                                                    "/service-apis/", id));
  return res;
}

absl::StatusOr<RestResponse> PublishServiceApi::List(const RestRequest& req) {
  ASSIGN_OR_RETURN(std::string apf_id, RequireApf(req));
  ASSIGN_OR_RETURN(std::vector<Resource> apis, config_.resources->List(kResourceServiceApi, apf_id));
  json out = json::array();
  for (const Resource& r : apis) out.push_back(json::parse(r.json));
  return RestResponse::Json(200, out);
}

absl::StatusOr<RestResponse> PublishServiceApi::Get(const RestRequest& req) {
  ASSIGN_OR_RETURN(std::string apf_id, RequireApf(req));
  ASSIGN_OR_RETURN(std::optional<Resource> r,
                   config_.resources->Get(kResourceServiceApi, req.path_params[1]));
  if (!r || r->owner != apf_id) return RestError(404, "no such service API", "RESOURCE_NOT_FOUND");
  return RestResponse::Json(200, json::parse(r->json));
}

absl::StatusOr<RestResponse> PublishServiceApi::Replace(const RestRequest& req) {
  ASSIGN_OR_RETURN(std::string apf_id, RequireApf(req));
  ASSIGN_OR_RETURN(json api, ParseJsonBody(req));
  const std::string& id = req.path_params[1];
  if (api.contains("apiId") && api["apiId"] != id) {
    return InvalidParamError("apiId", "must equal the serviceApiId of the resource");
  }
  RETURN_IF_ERROR(ValidateServiceApiDescription(api));
  ASSIGN_OR_RETURN(std::optional<Resource> r, config_.resources->Get(kResourceServiceApi, id));
  if (!r || r->owner != apf_id) return RestError(404, "no such service API", "RESOURCE_NOT_FOUND");
  RETURN_IF_ERROR(CheckAefsOfDomain(api, apf_id));
  api["apiId"] = id;
  RETURN_IF_ERROR(config_.resources->Update({kResourceServiceApi, id, apf_id, api.dump()}));
  return RestResponse::Json(200, api);
}

absl::StatusOr<RestResponse> PublishServiceApi::Unpublish(const RestRequest& req) {
  ASSIGN_OR_RETURN(std::string apf_id, RequireApf(req));
  const std::string& id = req.path_params[1];
  ASSIGN_OR_RETURN(std::optional<Resource> r, config_.resources->Get(kResourceServiceApi, id));
  if (!r || r->owner != apf_id) return RestError(404, "no such service API", "RESOURCE_NOT_FOUND");
  RETURN_IF_ERROR(config_.resources->Delete(kResourceServiceApi, id));
  return RestResponse::NoContent();
}

}  // namespace capif
