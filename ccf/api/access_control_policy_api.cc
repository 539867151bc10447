#include "ccf/api/access_control_policy_api.h"

#include <algorithm>
#include <map>
#include <nlohmann/json.hpp>
#include <string>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "ccf/api/provider_management_api.h"
#include "common/log.h"
#include "common/status_macros.h"

namespace capif {

using nlohmann::json;

void AccessControlPolicyApi::RegisterRoutes(RestRouter& server) {
  server.Route("GET", std::string(kAccessControlPolicyRoot) + "/accessControlPolicyList/([^/]+)",
               [this](const RestRequest& r) { return Get(r); });
}

absl::StatusOr<RestResponse> AccessControlPolicyApi::Get(const RestRequest& req) {
  const std::string api_id = req.path_params.empty() ? "" : req.path_params[0];
  std::optional<std::string> aef_id = req.Query("aef-id");
  if (!aef_id || aef_id->empty()) return InvalidQueryParamError("aef-id", "is required");
  if (!req.caller) return RestError(401, "a client certificate of the AEF is required");
  if (req.caller->kind() != SpiffeId::Kind::kAef ||
      req.caller->trust_domain() != config_.ca->trust_domain() || req.caller->id() != *aef_id) {
    LogWarning("security", absl::StrCat(req.caller->ToString(),
                                        " asked for the access control "
                                        "policy of AEF ",
                                        absl::CEscape(aef_id->substr(0, 64))));
    return RestError(403, "only the AEF named by aef-id may read its access control policy",
                     "OPERATION_NOT_ALLOWED");
  }
  if (!FindProviderFunction(*config_.providers, *aef_id, ProviderRole::kAef).ok()) {
    return RestError(403, "the AEF is not registered", "OPERATION_NOT_ALLOWED");
  }
  ASSIGN_OR_RETURN(std::optional<ServiceApiRecord> api, config_.service_apis->Get(api_id));
  bool of_this_aef =
      api && std::any_of(api->aefs.begin(), api->aefs.end(),
                         [&](const ServiceApiAef& a) { return a.aef_id == *aef_id; });
  if (!of_this_aef) {
    return RestError(404, "no published service API with this id at this AEF",
                     "RESOURCE_NOT_FOUND");
  }
  std::optional<std::string> only = req.Query("api-invoker-id");
  // Invoker -> when its authorization for this API at this AEF began (the earliest standing).
  std::map<std::string, absl::Time> since;
  auto add = [&](const std::string& invoker, absl::Time at) {
    if (only && *only != invoker) return;
    auto [it, inserted] = since.emplace(invoker, at);
    if (!inserted) it->second = std::min(it->second, at);
  };
  ASSIGN_OR_RETURN(std::vector<InvokerEntry> entries, config_.contexts->EntriesOfAef(*aef_id));
  for (const InvokerEntry& e : entries) {
    if (e.entry.is_remote()) continue;  // an AEF of a peer (not this one)
    const std::vector<std::string>& ids = e.entry.api_ids;
    if (std::find(ids.begin(), ids.end(), api_id) != ids.end()) {
      add(e.api_invoker_id, e.entry.authorized_at);
    }
  }
  if (config_.grants != nullptr) {
    absl::Time now = config_.clock->Now();
    ASSIGN_OR_RETURN(std::vector<RemoteGrant> grants, config_.grants->OfAef(*aef_id));
    for (const RemoteGrant& g : grants) {
      if (g.api_id == api_id && g.StandsAt(now)) add(g.api_invoker_id, g.granted_at);
    }
  }
  json policies = json::array();
  for (const auto& [invoker, at] : since) {
    json policy = {{"apiInvokerId", invoker}};
    if (at != absl::InfinitePast()) {
      policy["allowedInvocationTimeRangeList"] = json::array(
          {{{"startTime", absl::FormatTime("%Y-%m-%dT%H:%M:%E6SZ", at, absl::UTCTimeZone())}}});
    }
    policies.push_back(std::move(policy));
  }
  return RestResponse::Json(200, {{"apiInvokerPolicies", std::move(policies)}});
}

}  // namespace capif
