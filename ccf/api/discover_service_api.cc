#include "ccf/api/discover_service_api.h"

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "ccf/api/publish_service_api.h"
#include "common/log.h"
#include "common/status_macros.h"

namespace capif {
namespace {

using nlohmann::json;

std::string Filter(const std::multimap<std::string, std::string>& f, const std::string& name) {
  auto it = f.find(name);
  return it == f.end() ? "" : it->second;
}

bool HasCommType(const json& profile, const std::string& comm_type) {
  for (const json& v : profile.value("versions", json::array())) {
    for (const char* list : {"resources", "custOperations"}) {
      for (const json& r : v.value(list, json::array())) {
        if (r.value("commType", "") == comm_type) return true;
      }
    }
  }
  return false;
}

bool ProfileMatches(const json& p, const std::multimap<std::string, std::string>& f) {
  std::string aef_id = Filter(f, "aef-id");
  if (!aef_id.empty() && p.value("aefId", "") != aef_id) return false;
  std::string version = Filter(f, "api-version");
  if (!version.empty()) {
    bool found = false;
    for (const json& v : p.value("versions", json::array())) {
      found = found || v.value("apiVersion", "") == version;
    }
    if (!found) return false;
  }
  std::string protocol = Filter(f, "protocol");
  if (!protocol.empty() && p.value("protocol", "") != protocol) return false;
  std::string format = Filter(f, "data-format");
  if (!format.empty() && p.value("dataFormat", "") != format) return false;
  std::string comm = Filter(f, "comm-type");
  if (!comm.empty() && !HasCommType(p, comm)) return false;
  return true;
}

}  // namespace

json FilterServiceApi(const json& api, const std::multimap<std::string, std::string>& f) {
  std::string name = Filter(f, "api-name");
  if (!name.empty() && api.value("apiName", "") != name) return nullptr;
  std::string cat = Filter(f, "api-cat");
  if (!cat.empty() && api.value("serviceAPICategory", "") != cat) return nullptr;
  std::string feats = Filter(f, "api-supported-features");
  if (!feats.empty() && api.value("apiSuppFeats", "") != feats) return nullptr;
  json profiles = json::array();
  for (const json& p : api.value("aefProfiles", json::array())) {
    if (ProfileMatches(p, f)) profiles.push_back(p);
  }
  if (profiles.empty()) return nullptr;
  json out = api;
  out["aefProfiles"] = profiles;
  return out;
}

void DiscoverServiceApi::RegisterRoutes(RestRouter& server) {
  server.Route("GET", "/service-apis/v1/allServiceAPIs",
               [this](const RestRequest& r) { return Discover(r); });
}

absl::StatusOr<RestResponse> DiscoverServiceApi::Discover(const RestRequest& req) {
  std::optional<std::string> invoker = req.Query("api-invoker-id");
  if (!invoker || invoker->empty()) return InvalidQueryParamError("api-invoker-id", "is required");
  if (!req.caller) return RestError(401, "a client certificate of the invoker is required");
  if (req.caller->kind() != SpiffeId::Kind::kInvoker ||
      req.caller->trust_domain() != config_.ca->trust_domain() || req.caller->id() != *invoker) {
    LogWarning("security", absl::StrCat(req.caller->ToString(), " tried to discover as ",
                                        absl::CEscape(invoker->substr(0, 64))));
    return RestError(403, "api-invoker-id must be the caller's own id", "OPERATION_NOT_ALLOWED");
  }
  ASSIGN_OR_RETURN(std::optional<InvokerRecord> record,
                   config_.invokers->Get(ApiInvokerId(*invoker)));
  if (!record) return RestError(404, "the API invoker is not onboarded", "API_INVOKER_NOT_FOUND");
  std::optional<std::string> name = req.Query("api-name");
  ASSIGN_OR_RETURN(std::vector<ServiceApiRecord> apis,
                   config_.service_apis->Named(name.value_or("")));
  json found = json::array();
  for (const json& api : DescriptionsOf(apis)) {
    json match = FilterServiceApi(api, req.query);
    if (!match.is_null()) found.push_back(std::move(match));
  }
  if (config_.remote != nullptr) {
    // From the peers' last answers (shared_api_cache.h): a peer that is down is answered for
    // from its cache; one never reached is left out (its outage is logged there).
    SharedApiSnapshot shared = config_.remote->SharedApis(name.value_or(""));
    for (const json& api : shared.apis) {
      json match = FilterServiceApi(api, req.query);
      if (!match.is_null()) found.push_back(std::move(match));
    }
  }
  json body = json::object();
  if (!found.empty()) body["serviceAPIDescriptions"] = found;
  return RestResponse::Json(200, body);
}

}  // namespace capif
