#include "ccf/notices/peer_notices.h"

#include <map>
#include <nlohmann/json.hpp>
#include <set>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "ccf/store/event_subscriptions.h"
#include "federation/peer_client.h"
#include "proto/interconnect.pb.h"

namespace capif {

namespace fv1 = capif::federation::v1;

std::vector<OutboundNotice> PeerNoticesFor(const std::string& api_invoker_id,
                                           const std::vector<SecurityEntry>& entries,
                                           bool offboarding, const std::string& cause,
                                           absl::Time now) {
  std::map<std::string, std::set<std::string>> aefs_by_peer;
  for (const SecurityEntry& e : entries) {
    if (e.is_remote()) aefs_by_peer[e.remote_ccf_id].insert(e.aef_id);
  }
  std::vector<OutboundNotice> out;
  for (const auto& [peer, aefs] : aefs_by_peer) {
    OutboundNotice n{NewRequestId(), peer, "", "", now};
    n.api_invoker_id = api_invoker_id;
    if (offboarding) {
      fv1::OffboardingNotice msg;
      msg.set_api_invoker_id(api_invoker_id);
      msg.set_notice_id(n.notice_id);
      msg.set_occurred_at(absl::ToUnixSeconds(now));
      n.kind = kNoticeOffboarding;
      n.payload = msg.SerializeAsString();
    } else {
      fv1::RevocationNotice msg;
      msg.set_api_invoker_id(api_invoker_id);
      msg.set_notice_id(n.notice_id);
      msg.set_occurred_at(absl::ToUnixSeconds(now));
      for (const std::string& aef : aefs) msg.add_aef_ids(aef);
      msg.set_cause(cause);
      n.kind = kNoticeRevocation;
      n.payload = msg.SerializeAsString();
    }
    out.push_back(std::move(n));
  }
  return out;
}

std::vector<OutboundNotice> GrantConfirmationsFor(const std::string& api_invoker_id,
                                                  const std::vector<SecurityEntry>& entries,
                                                  absl::Time now) {
  std::map<std::string, std::set<std::pair<std::string, std::string>>> targets_by_peer;
  for (const SecurityEntry& e : entries) {
    if (!e.is_remote()) continue;
    for (const std::string& api : e.api_ids) targets_by_peer[e.remote_ccf_id].insert({e.aef_id, api});
  }
  std::vector<OutboundNotice> out;
  for (const auto& [peer, targets] : targets_by_peer) {
    OutboundNotice n{NewRequestId(), peer, kNoticeGrantConfirmation, "", now};
    n.api_invoker_id = api_invoker_id;
    fv1::SecurityMethodConfirmation msg;
    msg.set_api_invoker_id(api_invoker_id);
    msg.set_notice_id(n.notice_id);
    for (const auto& [aef, api] : targets) {
      fv1::AefTarget* t = msg.add_targets();
      t->set_aef_id(aef);
      t->set_api_id(api);
    }
    n.payload = msg.SerializeAsString();
    out.push_back(std::move(n));
  }
  return out;
}

OutboundNotice AefCcfRevocationNotice(const std::string& home_ccf_id,
                                      const std::string& api_invoker_id, const std::string& aef_id,
                                      const std::vector<std::string>& api_ids,
                                      const std::string& cause, absl::Time now) {
  fv1::RevocationNotice msg;
  std::string id = NewOrderedNoticeId("aef-revoked", now);
  msg.set_api_invoker_id(api_invoker_id);
  msg.set_notice_id(id);
  msg.set_occurred_at(absl::ToUnixSeconds(now));
  msg.add_aef_ids(aef_id);
  for (const std::string& a : api_ids) msg.add_api_ids(a);
  msg.set_cause(cause);
  msg.set_from_aef_ccf(true);
  OutboundNotice n{id, home_ccf_id, kNoticeRevocation, msg.SerializeAsString(), now};
  n.api_invoker_id = api_invoker_id;
  return n;
}

namespace {

std::map<std::pair<std::string, std::string>, absl::Time> LocalAuthorizations(
    const std::vector<SecurityEntry>& entries) {
  std::map<std::pair<std::string, std::string>, absl::Time> out;
  for (const SecurityEntry& e : entries) {
    if (e.is_remote() || e.aef_id.empty()) continue;
    for (const std::string& api : e.api_ids) out[{e.aef_id, api}] = e.authorized_at;
  }
  return out;
}

}  // namespace

std::vector<OutboundNotice> AclChangeNotices(const std::string& api_invoker_id,
                                             const std::vector<SecurityEntry>& before,
                                             const std::vector<SecurityEntry>& after,
                                             absl::Time now) {
  auto was = LocalAuthorizations(before), is = LocalAuthorizations(after);
  std::set<std::pair<std::string, std::string>> changed;
  for (const auto& [key, at] : was) {
    auto it = is.find(key);
    if (it == is.end() || it->second != at) changed.insert(key);
  }
  for (const auto& [key, at] : is) {
    if (!was.count(key)) changed.insert(key);
  }
  std::vector<OutboundNotice> out;
  for (const auto& [aef, api] : changed) {
    out.push_back(EventOccurrenceNotice(AclUpdateEvent(api, aef, {api_invoker_id}), now));
  }
  return out;
}

absl::StatusOr<PeerNoticeDelivery> PeerDeliveryOf(const OutboundNotice& notice) {
  PeerNoticeDelivery d{PeerNoticeDelivery::Kind::kOffboarding, notice.destination,
                       notice.notice_id, notice.payload};
  if (notice.kind == kNoticeOffboarding) return d;
  d.kind = PeerNoticeDelivery::Kind::kRevocation;
  if (notice.kind == kNoticeRevocation) return d;
  d.kind = PeerNoticeDelivery::Kind::kGrantConfirmation;
  if (notice.kind == kNoticeGrantConfirmation) return d;
  if (notice.kind == kNoticeSharedApiChange) {
    // Kept as JSON by the store (ccf/store/event_subscriptions.h); sent as the bus message.
    nlohmann::json j = nlohmann::json::parse(notice.payload, nullptr, /*allow_exceptions=*/false);
    if (!j.is_object() || !j.value("apiId", nlohmann::json()).is_string() ||
        !j.value("apiName", nlohmann::json()).is_string() ||
        !j.value("event", nlohmann::json()).is_string() ||
        !j.value("aefIds", nlohmann::json()).is_array()) {
      return absl::DataLossError("a shared-API change notice does not parse");
    }
    fv1::SharedApiChange m;
    m.set_notice_id(notice.notice_id);
    m.set_api_id(j["apiId"].get<std::string>());
    m.set_api_name(j["apiName"].get<std::string>());
    const std::string event = j["event"];
    m.set_change(event == kEventServiceApiAvailable     ? fv1::SHARED_API_AVAILABLE
                 : event == kEventServiceApiUnavailable ? fv1::SHARED_API_UNAVAILABLE
                                                        : fv1::SHARED_API_UPDATE);
    for (const nlohmann::json& a : j["aefIds"]) {
      if (a.is_string()) m.add_aef_ids(a.get<std::string>());
    }
    m.set_occurred_at(absl::ToUnixSeconds(notice.created));
    d.kind = PeerNoticeDelivery::Kind::kSharedApiChange;
    d.payload = m.SerializeAsString();
    return d;
  }
  return absl::InvalidArgumentError(absl::StrCat("not a peer notice: ", notice.kind));
}

OutboundNotice AefRevokeNotice(std::string notice_id, const std::string& aef_id,
                               const std::string& api_invoker_id,
                               const std::vector<std::string>& api_ids, absl::Time now) {
  nlohmann::json req = {{"revokeInfo",
                         {{"apiInvokerId", api_invoker_id}, {"aefId", aef_id},
                          {"apiIds", api_ids}, {"cause", "UNEXPECTED_REASON"}}},
                        {"supportedFeatures", "0"}};
  OutboundNotice n{std::move(notice_id), aef_id, kNoticeAefRevoke, req.dump(), now};
  n.api_invoker_id = api_invoker_id;
  return n;
}

std::vector<OutboundNotice> AefNoticesFor(const std::string& api_invoker_id,
                                          const std::vector<SecurityEntry>& entries,
                                          absl::Time now) {
  std::map<std::string, std::set<std::string>> apis_by_aef;
  for (const SecurityEntry& e : entries) {
    if (e.is_remote() || e.aef_id.empty()) continue;
    apis_by_aef[e.aef_id].insert(e.api_ids.begin(), e.api_ids.end());
  }
  std::vector<OutboundNotice> out;
  for (const auto& [aef, apis] : apis_by_aef) {
    if (apis.empty()) continue;  // apiIds needs at least one
    out.push_back(AefRevokeNotice(NewRequestId(), aef, api_invoker_id,
                                  std::vector<std::string>(apis.begin(), apis.end()), now));
  }
  return out;
}

}  // namespace capif
