#include "ccf/local_ccf_state.h"

#include <algorithm>

#include <nlohmann/json.hpp>

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

std::string LocalCcfState::JwksJson() { return keyring_->jwks()->ToJson().dump(); }

}  // namespace capif
