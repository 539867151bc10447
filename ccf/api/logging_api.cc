#include "ccf/api/logging_api.h"

#include <algorithm>
#include <map>
#include <nlohmann/json.hpp>
#include <set>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "ccf/api/certification.h"
#include "ccf/api/provider_management_api.h"
#include "common/log.h"
#include "common/status_macros.h"
#include "common/strict_json.h"

namespace capif {

using nlohmann::json;

namespace {

constexpr size_t kMaxEntries = 1000;
constexpr size_t kMaxText = 2048;

absl::StatusOr<std::string> RequiredText(const json& o, const char* key, const std::string& at) {
  ASSIGN_OR_RETURN(const json* v, RequiredMember(o, key, at, JsonType::kString, true));
  if (v->get_ref<const std::string&>().size() > kMaxText) {
    return InvalidParamError(at + key, absl::StrCat("must be at most ", kMaxText, " bytes"));
  }
  return v->get<std::string>();
}

absl::StatusOr<std::optional<std::string>> OptionalText(const json& o, const char* key,
                                                        const std::string& at) {
  std::optional<std::string> v;
  RETURN_IF_ERROR(OptionalMember(o, key, at, &v));
  if (v && v->size() > kMaxText) {
    return InvalidParamError(at + key, absl::StrCat("must be at most ", kMaxText, " bytes"));
  }
  return v;
}

// An InterfaceDescription in its canonical form (members sorted): how the filters compare them.
absl::StatusOr<std::optional<std::string>> InterfaceKey(const json& o, const char* key,
                                                        const std::string& at) {
  auto it = o.find(key);
  if (it == o.end()) return std::optional<std::string>();
  if (!it->is_object()) return InvalidParamError(at + key, "must be an object");
  return std::optional<std::string>(it->dump(-1, ' ', false, json::error_handler_t::replace));
}

absl::StatusOr<absl::Time> DateTime(const std::string& text, const std::string& name, bool query) {
  absl::Time t;
  std::string err;
  if (!absl::ParseTime(absl::RFC3339_full, text, &t, &err)) {
    return query ? InvalidQueryParamError(name, "must be an RFC 3339 date-time")
                 : InvalidParamError(name, "must be an RFC 3339 date-time");
  }
  return t;
}

}  // namespace

void LoggingApi::RegisterRoutes(RestRouter& server) {
  server.Route("POST", std::string(kLoggingRoot) + "/([^/]+)/logs",
               [this](const RestRequest& r) { return PostLogs(r); });
  server.Route("GET", std::string(kAuditingRoot) + "/apiInvocationLogs",
               [this](const RestRequest& r) { return Audit(r); });
}

absl::StatusOr<RestResponse> LoggingApi::PostLogs(const RestRequest& req) {
  const std::string aef_id = req.path_params.empty() ? "" : req.path_params[0];
  if (!req.caller) return RestError(401, "a client certificate of the AEF is required");
  if (req.caller->kind() != SpiffeId::Kind::kAef ||
      req.caller->trust_domain() != config_.ca->trust_domain() || req.caller->id() != aef_id) {
    LogWarning("security", absl::StrCat(req.caller->ToString(), " tried to log as AEF ",
                                        absl::CEscape(aef_id.substr(0, 64))));
    return RestError(403, "only the AEF named in the path may log its invocations",
                     "OPERATION_NOT_ALLOWED");
  }
  if (!FindProviderFunction(*config_.providers, aef_id, ProviderRole::kAef).ok()) {
    return RestError(403, "the AEF is not registered", "OPERATION_NOT_ALLOWED");
  }
  ASSIGN_OR_RETURN(json body, ParseJsonBody(req));
  ASSIGN_OR_RETURN(std::string body_aef, RequiredText(body, "aefId", ""));
  if (body_aef != aef_id) return InvalidParamError("aefId", "must equal the path's aefId");
  InvocationLogRecord r;
  r.aef_id = aef_id;
  ASSIGN_OR_RETURN(r.api_invoker_id, RequiredText(body, "apiInvokerId", ""));
  ASSIGN_OR_RETURN(const json* logs, RequiredMember(body, "logs", "", JsonType::kArray, true));
  if (logs->size() > kMaxEntries) {
    return InvalidParamError("logs", absl::StrCat("must have at most ", kMaxEntries, " entries"));
  }
  std::set<std::string> apis_of_aef;  // apiIds checked already
  for (size_t i = 0; i < logs->size(); ++i) {
    const json& l = (*logs)[i];
    const std::string at = absl::StrCat("logs[", i, "].");
    if (!l.is_object()) return InvalidParamError(at.substr(0, at.size() - 1), "must be an object");
    InvocationLogEntry e;
    ASSIGN_OR_RETURN(e.api_id, RequiredText(l, "apiId", at));
    ASSIGN_OR_RETURN(e.api_name, RequiredText(l, "apiName", at));
    ASSIGN_OR_RETURN(e.api_version, RequiredText(l, "apiVersion", at));
    ASSIGN_OR_RETURN(e.resource_name, RequiredText(l, "resourceName", at));
    ASSIGN_OR_RETURN(e.protocol, RequiredText(l, "protocol", at));
    ASSIGN_OR_RETURN(e.result, RequiredText(l, "result", at));
    ASSIGN_OR_RETURN(e.operation, OptionalText(l, "operation", at));
    RETURN_IF_ERROR(OptionalText(l, "uri", at).status());
    RETURN_IF_ERROR(OptionalText(l, "fwdInterface", at).status());
    if (auto t = l.find("invocationTime"); t != l.end()) {
      if (!t->is_string()) return InvalidParamError(at + "invocationTime", "must be a string");
      ASSIGN_OR_RETURN(absl::Time when, DateTime(t->get<std::string>(), at + "invocationTime",
                                                 /*query=*/false));
      e.invocation_time = when;
    }
    if (auto d = l.find("invocationLatency"); d != l.end() && !d->is_number_unsigned()) {
      return InvalidParamError(at + "invocationLatency", "must be a non-negative integer");
    }
    ASSIGN_OR_RETURN(e.src_interface, InterfaceKey(l, "srcInterface", at));
    ASSIGN_OR_RETURN(e.dest_interface, InterfaceKey(l, "destInterface", at));
    if (apis_of_aef.count(e.api_id) == 0) {
      ASSIGN_OR_RETURN(std::optional<ServiceApiRecord> api, config_.service_apis->Get(e.api_id));
      bool of_aef = api && std::any_of(api->aefs.begin(), api->aefs.end(),
                                       [&](const ServiceApiAef& a) { return a.aef_id == aef_id; });
      if (!of_aef) {
        return InvalidParamError(at + "apiId", "is not a service API published with this AEF");
      }
      apis_of_aef.insert(e.api_id);
    }
    e.json = l.dump(-1, ' ', false, json::error_handler_t::replace);
    r.entries.push_back(std::move(e));
  }
  std::optional<std::string> features;
  RETURN_IF_ERROR(OptionalMember(body, "supportedFeatures", "", &features));
  if (features) body["supportedFeatures"] = "0";
  r.log_id = NewResourceId("log");
  RETURN_IF_ERROR(config_.logs->Insert(r, config_.clock->Now()));
  RestResponse res = RestResponse::Json(201, body);
  res.headers.emplace_back(
      "Location", absl::StrCat(config_.api_root, kLoggingRoot, "/", aef_id, "/logs/", r.log_id));
  return res;
}

absl::StatusOr<RestResponse> LoggingApi::Audit(const RestRequest& req) {
  if (!req.caller) return RestError(401, "a client certificate of the AMF is required");
  if (req.caller->kind() != SpiffeId::Kind::kAmf ||
      req.caller->trust_domain() != config_.ca->trust_domain()) {
    LogWarning("security",
               absl::StrCat(req.caller->ToString(), " tried to read the invocation logs"));
    return RestError(403, "only an AMF may read invocation logs", "OPERATION_NOT_ALLOWED");
  }
  auto amf = FindProviderFunction(*config_.providers, req.caller->id(), ProviderRole::kAmf);
  if (!amf.ok()) return RestError(403, "the AMF is not registered", "OPERATION_NOT_ALLOWED");
  ASSIGN_OR_RETURN(std::optional<ProviderDomain> domain, config_.providers->Get(amf->domain_id));
  InvocationLogQuery q;
  if (domain) {
    for (const ProviderFunction& f : domain->functions) {
      if (f.role == ProviderRole::kAef) q.aef_ids.push_back(f.id);
    }
  }
  if (std::optional<std::string> aef = req.Query("aef-id")) {
    if (std::find(q.aef_ids.begin(), q.aef_ids.end(), *aef) == q.aef_ids.end()) {
      return RestError(403, "aef-id is not an AEF of this AMF's API provider domain",
                       "OPERATION_NOT_ALLOWED");
    }
    q.aef_ids = {*aef};
  }
  q.api_invoker_id = req.Query("api-invoker-id");
  q.api_id = req.Query("api-id");
  q.api_name = req.Query("api-name");
  q.api_version = req.Query("api-version");
  q.protocol = req.Query("protocol");
  q.operation = req.Query("operation");
  q.result = req.Query("result");
  q.resource_name = req.Query("resource-name");
  for (auto [name, field] :
       {std::make_pair("time-range-start", &q.from), std::make_pair("time-range-end", &q.to)}) {
    if (std::optional<std::string> t = req.Query(name)) {
      ASSIGN_OR_RETURN(absl::Time when, DateTime(*t, name, /*query=*/true));
      *field = when;
    }
  }
  for (auto [name, field] : {std::make_pair("src-interface", &q.src_interface),
                             std::make_pair("dest-interface", &q.dest_interface)}) {
    if (std::optional<std::string> t = req.Query(name)) {
      auto parsed = ParseStrictJson(*t, 8);
      if (!parsed.ok() || !parsed->is_object()) {
        return InvalidQueryParamError(name, "must be an InterfaceDescription (JSON object)");
      }
      *field = parsed->dump(-1, ' ', false, json::error_handler_t::replace);
    }
  }
  ASSIGN_OR_RETURN(std::vector<FoundInvocationLog> found, config_.logs->Find(q));
  if (found.empty()) {
    return RestError(404, "no invocation logs match", "RESOURCE_NOT_FOUND");
  }
  // One InvocationLog per (AEF, invoker), in the order of their first entry.
  std::vector<json> groups;
  std::map<std::pair<std::string, std::string>, size_t> index;
  for (const FoundInvocationLog& f : found) {
    auto key = std::make_pair(f.aef_id, f.api_invoker_id);
    auto [it, fresh] = index.emplace(key, groups.size());
    if (fresh) {
      groups.push_back(
          {{"aefId", f.aef_id}, {"apiInvokerId", f.api_invoker_id}, {"logs", json::array()}});
    }
    groups[it->second]["logs"].push_back(json::parse(f.entry_json, nullptr, false));
  }
  if (groups.size() == 1) return RestResponse::Json(200, groups[0]);
  return RestResponse::Json(200, {{"multipleInvocationLogs", groups}});
}

}  // namespace capif
