#include "federation/peer_bundles.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/jws.h"
#include "common/log.h"

namespace capif {

namespace {

constexpr size_t kMaxRoots = 16;
constexpr size_t kMaxRootBytes = 16 * 1024;
constexpr size_t kMaxJwksBytes = 64 * 1024;

// Configured roots plus those of `held`; the configured ones alone if that fails.
TrustBundle Combine(const Peer& peer, const std::optional<HeldBundle>& held) {
  if (!held) return peer.trust_bundle;
  std::vector<std::string> pems = held->root_ca_pems;
  for (const X509Cert& root : peer.trust_bundle.roots()) {
    auto pem = root.ToPem();
    if (pem.ok()) pems.push_back(*pem);
  }
  auto combined = TrustBundle::FromPem(absl::StrJoin(pems, ""));
  return combined.ok() ? *std::move(combined) : peer.trust_bundle;
}

}  // namespace

PeerBundles::PeerBundles(std::vector<std::pair<Peer, PeerClient*>> peers, PeerBundleStore* store,
                         const Clock& clock, Options options)
    : peers_(std::move(peers)), store_(store), clock_(clock), options_(options) {}

absl::Status PeerBundles::LoadStored() {
  if (store_ == nullptr) return absl::OkStatus();
  auto stored = store_->LoadAll();
  if (!stored.ok()) return stored.status();
  absl::MutexLock lock(&mu_);
  for (const auto& [peer, client] : peers_) {
    auto it = stored->find(peer.ccf_id.value());
    if (it == stored->end()) continue;
    PeerBundleStatus s = it->second;
    s.next_refresh = absl::InfinitePast();  // refresh soon after a restart anyway
    roots_[peer.ccf_id.value()] = Combine(peer, s.last_good);
    status_[peer.ccf_id.value()] = std::move(s);
  }
  return absl::OkStatus();
}

absl::Status PeerBundles::Refresh(const Peer& peer, PeerClient* client,
                                  PeerBundleStatus* status) {
  // PreparePeerCall waits for a reconnecting channel (a peer that just came back is not reported
  // as down); Stop() cancels the wait.
  grpc::ClientContext ctx;
  PreparePeerCall(&ctx, absl::Now() + options_.deadline);
  {
    absl::MutexLock lock(&mu_);
    if (stop_) return absl::CancelledError("stopping");
    in_flight_ = &ctx;
  }
  auto fetched = client->GetTrustBundle(&ctx);
  {
    absl::MutexLock lock(&mu_);
    in_flight_ = nullptr;
  }
  if (!fetched.ok()) return fetched.status();
  if (fetched->trust_domain() != peer.trust_domain.value()) {
    return absl::PermissionDeniedError(absl::StrCat(
        "the bundle names trust domain '", fetched->trust_domain().substr(0, 64), "'"));
  }
  if (status->last_good && fetched->sequence() < status->last_good->sequence) {
    return absl::FailedPreconditionError(absl::StrCat("the bundle sequence went backwards (",
                                                      fetched->sequence(), " < ",
                                                      status->last_good->sequence, ")"));
  }
  if (fetched->root_ca_pem_size() == 0 ||
      static_cast<size_t>(fetched->root_ca_pem_size()) > kMaxRoots) {
    return absl::InvalidArgumentError("the bundle must carry 1 to 16 root certificates");
  }
  HeldBundle held{fetched->sequence(), {}, fetched->jwks_json(),
                  fetched->refresh_hint_seconds(), clock_.Now()};
  for (const std::string& pem : fetched->root_ca_pem()) {
    if (pem.size() > kMaxRootBytes || !X509Cert::FromPem(pem).ok()) {
      return absl::InvalidArgumentError("a root certificate of the bundle is unreadable");
    }
    held.root_ca_pems.push_back(pem);
  }
  if (held.jwks_json.size() > kMaxJwksBytes || !JwkSet::FromJson(held.jwks_json).ok()) {
    return absl::InvalidArgumentError("the bundle's JWKS is unreadable");
  }
  status->last_good = std::move(held);
  return absl::OkStatus();
}

int PeerBundles::RefreshDue() {
  int refreshed = 0;
  for (const auto& [peer, client] : peers_) {
    const std::string& id = peer.ccf_id.value();
    PeerBundleStatus status;
    {
      absl::MutexLock lock(&mu_);
      status = status_[id];
    }
    absl::Time now = clock_.Now();
    if (status.next_refresh > now) continue;
    std::optional<uint64_t> previous_sequence;
    if (status.last_good) previous_sequence = status.last_good->sequence;
    absl::Status s = Refresh(peer, client, &status);
    {
      absl::MutexLock lock(&mu_);
      if (stop_) return refreshed;  // cut short by Stop(): not the peer's failure
    }
    status.last_attempt = now;
    if (s.ok()) {
      ++refreshed;
      if (status.failures > 0 || !previous_sequence ||
          *previous_sequence != status.last_good->sequence) {
        LogInfo("bundles", absl::StrCat("trust bundle of ", id, ": sequence ",
                                        status.last_good->sequence, ", ",
                                        status.last_good->root_ca_pems.size(), " root(s)"));
      }
      status.last_error.clear();
      status.failures = 0;
      absl::Duration hint = absl::Seconds(status.last_good->refresh_hint_seconds);
      status.next_refresh = now + std::clamp(hint, options_.min_interval, absl::Hours(24 * 7));
    } else {
      status.last_error = std::string(s.message().substr(0, 300));
      ++status.failures;
      absl::Duration wait = options_.retry;
      for (int i = 1; i < status.failures && wait < absl::Hours(1); ++i) wait *= 2;
      absl::Duration hint = status.last_good
                                ? absl::Seconds(status.last_good->refresh_hint_seconds)
                                : absl::Hours(1);
      status.next_refresh = now + std::min(wait, std::max(hint, options_.retry));
      LogWarning("bundles", absl::StrCat("trust bundle of ", id, " not refreshed (",
                                         status.last_error, "); ",
                                         status.last_good ? absl::StrCat("keeping sequence ",
                                                                         status.last_good->sequence)
                                                          : std::string("none held yet")));
    }
    if (store_ != nullptr) {
      absl::Status saved = store_->Save(id, status);
      if (!saved.ok()) LogError("bundles", absl::StrCat("saving the bundle of ", id, ": ", saved.ToString()));
    }
    absl::MutexLock lock(&mu_);
    if (s.ok()) roots_[id] = Combine(peer, status.last_good);
    status_[id] = std::move(status);
  }
  return refreshed;
}

PeerBundleStatus PeerBundles::Status(const std::string& ccf_id) const {
  absl::MutexLock lock(&mu_);
  auto it = status_.find(ccf_id);
  return it == status_.end() ? PeerBundleStatus{} : it->second;
}

TrustBundle PeerBundles::RootsOf(const Peer& peer) const {
  absl::MutexLock lock(&mu_);
  auto it = roots_.find(peer.ccf_id.value());
  return it == roots_.end() ? peer.trust_bundle : it->second;
}

void PeerBundles::Start(absl::Duration poll) {
  thread_ = std::thread([this, poll] { Loop(poll); });
}

void PeerBundles::Stop() {
  {
    absl::MutexLock lock(&mu_);
    stop_ = true;
    if (in_flight_ != nullptr) in_flight_->TryCancel();
  }
  if (thread_.joinable()) thread_.join();
}

void PeerBundles::Loop(absl::Duration poll) {
  for (;;) {
    RefreshDue();
    absl::MutexLock lock(&mu_);
    mu_.AwaitWithTimeout(absl::Condition(this, &PeerBundles::Stopping), poll);
    if (stop_) return;
  }
}

}  // namespace capif
