#include "federation/shared_api_cache.h"

#include <grpcpp/client_context.h>

#include "absl/strings/str_cat.h"
#include "common/log.h"
#include "common/strict_json.h"

namespace capif {

namespace fv1 = capif::federation::v1;

struct SharedApiCache::Fetch {
  size_t peer;
  grpc::ClientContext ctx;
  fv1::DiscoverShareableApisResponse response;
  grpc::Status status;
  std::unique_ptr<grpc::ClientAsyncResponseReaderInterface<fv1::DiscoverShareableApisResponse>>
      reader;
};

SharedApiCache::SharedApiCache(std::vector<std::pair<CcfId, PeerClient*>> peers,
                               const Clock& clock, Options options)
    : peers_(std::move(peers)), clock_(clock), options_(options), entries_(peers_.size()) {
  drainer_ = std::thread([this] { Drain(); });
}

SharedApiCache::~SharedApiCache() {
  {
    absl::MutexLock lock(&mu_);
    shutting_down_ = true;
    for (Fetch* f : in_flight_) f->ctx.TryCancel();
  }
  cq_.Shutdown();
  drainer_.join();
}

void SharedApiCache::StartFetch(size_t peer) {
  if (shutting_down_) return;
  Entry& e = entries_[peer];
  e.in_flight = true;
  e.last_attempt = clock_.Now();
  PeerClient* client = peers_[peer].second;
  auto fetch = std::make_unique<Fetch>();
  fetch->peer = peer;
  fv1::DiscoverShareableApisRequest request;
  *request.mutable_header() = client->NewHeader();
  PreparePeerCall(&fetch->ctx, absl::Now() + options_.deadline);
  fetch->reader = client->stub()->PrepareAsyncDiscoverShareableApis(&fetch->ctx, request, &cq_);
  fetch->reader->StartCall();
  Fetch* raw = fetch.release();  // owned by the queue until Drain() takes it back
  in_flight_.insert(raw);
  raw->reader->Finish(&raw->response, &raw->status, raw);
}

void SharedApiCache::Drain() {
  void* tag = nullptr;
  bool ok = false;
  while (cq_.Next(&tag, &ok)) {
    std::unique_ptr<Fetch> fetch(static_cast<Fetch*>(tag));
    Complete(*fetch);
  }
}

void SharedApiCache::Complete(Fetch& f) {
  const std::string& peer = peers_[f.peer].first.value();
  std::vector<nlohmann::json> apis;
  if (f.status.ok()) {
    for (const std::string& text : f.response.service_api_description_json()) {
      auto api = ParseStrictJson(text);
      if (!api.ok() || !api->is_object() || api->value("ccfId", "") != peer) {
        LogWarning("security", absl::StrCat("peer ", peer, " shared a malformed or mislabelled "
                                            "service API; ignored"));
        continue;
      }
      apis.push_back(*std::move(api));
    }
  }
  absl::MutexLock lock(&mu_);
  in_flight_.erase(&f);
  Entry& e = entries_[f.peer];
  e.in_flight = false;
  if (!f.status.ok()) {
    if (!e.failing && !shutting_down_) {
      LogWarning("discover", absl::StrCat("peer ", peer, " does not answer for its shared APIs (",
                                          f.status.error_message().substr(0, 120), "); ",
                                          e.fetched ? "answering from the cache" : "none known"));
    }
    e.failing = true;
    return;
  }
  if (e.failing) LogInfo("discover", absl::StrCat("peer ", peer, " answers for its shared APIs again"));
  e.failing = false;
  e.fetched = true;
  e.apis = std::move(apis);
  e.fetched_at = clock_.Now();
}

bool SharedApiCache::Settled(Waiting* w) {
  for (size_t p : *w->peers) {
    if (w->self->entries_[p].in_flight) return false;
  }
  return true;
}

SharedApiSnapshot SharedApiCache::Get(const std::string& api_name) {
  absl::MutexLock lock(&mu_);
  const absl::Time now = clock_.Now();
  std::set<size_t> waited;  // never fetched: this request needs their answer
  for (size_t i = 0; i < peers_.size(); ++i) {
    Entry& e = entries_[i];
    bool due = !e.in_flight && now - e.last_attempt >= options_.retry_after &&
               (!e.fetched || now - e.fetched_at >= options_.ttl);
    if (due) StartFetch(i);
    if (!e.fetched && e.in_flight) waited.insert(i);
  }
  if (!waited.empty()) {
    Waiting w{this, &waited};
    mu_.AwaitWithTimeout(absl::Condition(&SharedApiCache::Settled, &w),
                         options_.deadline + absl::Milliseconds(500));
  }
  SharedApiSnapshot out;
  for (size_t i = 0; i < peers_.size(); ++i) {
    Entry& e = entries_[i];
    const std::string& peer = peers_[i].first.value();
    if (!e.fetched) {
      out.unreachable.push_back(peer);
      ++e.missing_answers;
      continue;
    }
    if (clock_.Now() - e.fetched_at >= options_.ttl) {
      out.stale.push_back(peer);
      ++e.stale_answers;
    }
    for (const nlohmann::json& api : e.apis) {
      if (api_name.empty() || api.value("apiName", "") == api_name) out.apis.push_back(api);
    }
  }
  return out;
}

std::vector<SharedApiCache::PeerStatus> SharedApiCache::Status() const {
  absl::MutexLock lock(&mu_);
  std::vector<PeerStatus> out;
  const absl::Time now = clock_.Now();
  for (size_t i = 0; i < peers_.size(); ++i) {
    const Entry& e = entries_[i];
    PeerStatus p;
    p.peer = peers_[i].first.value();
    p.fetched = e.fetched;
    p.age = e.fetched ? now - e.fetched_at : absl::ZeroDuration();
    p.failing = e.failing;
    p.stale_answers = e.stale_answers;
    p.missing_answers = e.missing_answers;
    out.push_back(std::move(p));
  }
  return out;
}

}  // namespace capif
