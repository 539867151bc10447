#include "ccf/local_ccf_state.h"

#include <algorithm>

#include <nlohmann/json.hpp>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "ccf/publish_service_api.h"
#include "common/status_macros.h"

namespace capif {

using nlohmann::json;

absl::StatusOr<bool> LocalCcfState::OwnsInvoker(const std::string& api_invoker_id) {
  ASSIGN_OR_RETURN(std::optional<InvokerRecord> r, invokers_->Get(ApiInvokerId(api_invoker_id)));
  return r.has_value();
}

absl::StatusOr<std::vector<std::string>> LocalCcfState::ShareableApis(
    const Peer& peer, const std::string& api_name) {
  ASSIGN_OR_RETURN(std::vector<Resource> apis, resources_->List(kResourceServiceApi, ""));
  const std::vector<std::string>& allowed = peer.agreement.shared_apis;
  std::vector<std::string> out;
  for (const Resource& r : apis) {
    json api = json::parse(r.json, nullptr, false);
    if (!api.is_object()) continue;
    std::string name = api.value("apiName", "");
    if (!api_name.empty() && name != api_name) continue;
    if (std::find(allowed.begin(), allowed.end(), name) == allowed.end()) continue;
    json share = api.value("shareableInfo", json::object());
    if (!share.value("isShareable", false)) continue;
    if (share.contains("capifProvDoms")) {
      bool listed = false;
      for (const json& d : share["capifProvDoms"]) {
        listed = listed || d == peer.ccf_id.value() || d == peer.trust_domain.value();
      }
      if (!listed) continue;
    }
    api["ccfId"] = ccf_id_;
    out.push_back(api.dump());
  }
  return out;
}

absl::StatusOr<std::vector<MethodDecision>> LocalCcfState::SelectSecurityMethods(
    const Peer& peer, const std::string& api_invoker_id, const std::vector<std::string>& preferred,
    const std::vector<std::pair<std::string, std::string>>& targets) {
  ASSIGN_OR_RETURN(std::vector<std::string> shared, ShareableApis(peer, ""));
  std::vector<json> apis;
  for (const std::string& s : shared) apis.push_back(json::parse(s));
  std::vector<MethodDecision> out;
  for (const auto& [aef_id, api_id] : targets) {
    MethodDecision d{aef_id, api_id, "", ""};
    json profile;
    for (const json& api : apis) {
      if (!api_id.empty() && api.value("apiId", "") != api_id) continue;
      for (const json& p : api["aefProfiles"]) {
        if (p.value("aefId", "") == aef_id && profile.is_null()) {
          profile = p;
          if (d.api_id.empty()) d.api_id = api.value("apiId", "");
        }
      }
    }
    if (profile.is_null()) {
      d.reason = "the AEF does not expose an API shared with this CCF";
      out.push_back(std::move(d));
      continue;
    }
    std::vector<std::string> offered = AefSecurityMethods(profile);
    for (const std::string& m : method_priority_) {
      bool both = std::find(offered.begin(), offered.end(), m) != offered.end() &&
                  std::find(preferred.begin(), preferred.end(), m) != preferred.end();
      if (both) {
        d.method = m;
        break;
      }
    }
    if (d.method.empty()) {
      d.reason = "no security method in common with the AEF";
    } else {
      Resource grant{kResourceRemoteGrant, absl::StrCat(api_invoker_id, "@", aef_id),
                     api_invoker_id,
                     json{{"homeCcfId", peer.ccf_id.value()}, {"apiInvokerId", api_invoker_id},
                          {"aefId", aef_id}, {"apiId", d.api_id}, {"selSecurityMethod", d.method},
                          {"grantedAt", absl::ToUnixSeconds(clock_.Now())}}
                         .dump()};
      absl::Status s = resources_->Insert(grant);
      if (absl::IsAlreadyExists(s)) s = resources_->Update(grant);
      RETURN_IF_ERROR(s);
    }
    out.push_back(std::move(d));
  }
  return out;
}

absl::StatusOr<RemoteSecurityInfo> LocalCcfState::LookupSecurityInfo(
    const Peer& peer, const std::string& api_invoker_id, const std::string& aef_id,
    const std::string& method) {
  ASSIGN_OR_RETURN(std::optional<InvokerRecord> invoker,
                   invokers_->Get(ApiInvokerId(api_invoker_id)));
  if (!invoker) return absl::NotFoundError("no such invoker here");
  ASSIGN_OR_RETURN(std::optional<Resource> ctx,
                   resources_->Get(kResourceSecurityContext, api_invoker_id));
  if (!ctx) return absl::NotFoundError("the invoker has no security context");
  json doc = json::parse(ctx->json);
  bool other_ccf = false;
  for (const json& e : doc.value("securityInfo", json::array())) {
    if (e.value("aefId", "") != aef_id) continue;
    if (e.value(kEntryAefCcfMember, "") != peer.ccf_id.value()) {
      other_ccf = true;  // that AEF is not the asking CCF's
      continue;
    }
    if (e.value("selSecurityMethod", "") != method) continue;
    RemoteSecurityInfo info;
    info.method = method;
    info.authorization_info = e.value("authorizationInfo", "");
    if (method == "PSK") {
      int64_t expires = e.value(kEntryPskExpiresMember, int64_t{0});
      if (expires <= absl::ToUnixSeconds(clock_.Now())) {
        return absl::NotFoundError("the AEFPSK has expired");
      }
      std::string hex = e.value(kEntryPskMember, "");
      info.aef_psk = absl::HexStringToBytes(hex);
      info.aef_psk_expires_at = expires;
    } else if (method == "PKI") {
      info.invoker_root_ca_pem = invoker_root_ca_pem_;
    }
    return info;
  }
  if (other_ccf) {
    return absl::PermissionDeniedError(absl::StrCat(
        "AEF ", aef_id, " is not an AEF of ", peer.ccf_id.value(), " for this invoker"));
  }
  return absl::NotFoundError("no security context entry for this AEF and method");
}

std::string LocalCcfState::JwksJson() { return keyring_->jwks()->ToJson().dump(); }

}  // namespace capif
