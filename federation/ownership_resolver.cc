#include "federation/ownership_resolver.h"

#include <grpcpp/client_context.h>

#include <grpcpp/completion_queue.h>

#include <algorithm>
#include <memory>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/time/clock.h"
#include "common/log.h"

namespace capif {

namespace fv1 = capif::federation::v1;

namespace {

// One query of a fan-out, owned by the fan-out until its completion is taken from the queue.
struct Query {
  size_t peer = 0;
  grpc::ClientContext ctx;
  fv1::OwnershipAnswer answer;
  grpc::Status status;
  std::unique_ptr<grpc::ClientAsyncResponseReaderInterface<fv1::OwnershipAnswer>> reader;
};

}  // namespace

OwnershipResolver::OwnershipResolver(std::vector<std::pair<CcfId, PeerClient*>> peers,
                                     const Clock& clock, Options options)
    : peers_(std::move(peers)),
      clock_(clock),
      options_(options),
      fanouts_(options.fanouts_per_second, clock.Now()) {}

int64_t OwnershipResolver::queries_sent() const { return queries_sent_->load(); }

void OwnershipResolver::Forget(const ApiInvokerId& invoker) {
  absl::MutexLock lock(&mu_);
  cache_.erase(invoker.value());
}

void OwnershipResolver::CacheLocked(const std::string& invoker, CacheEntry entry) {
  absl::Time now = clock_.Now();
  if (cache_.size() >= options_.max_entries && !cache_.contains(invoker)) {
    absl::erase_if(cache_, [now](const auto& e) { return now >= e.second.expires; });
  }
  if (cache_.size() >= options_.max_entries && !cache_.contains(invoker)) {
    if (!cache_full_) {
      cache_full_ = true;
      LogWarning("bus", absl::StrCat("ownership cache full (", options_.max_entries,
                                     " invokers): new answers are not cached"));
    }
    return;
  }
  cache_full_ = false;
  cache_[invoker] = std::move(entry);
}

absl::StatusOr<CcfId> OwnershipResolver::Resolve(const ApiInvokerId& invoker) {
  std::shared_ptr<Flight> flight;
  bool leader = false;
  {
    absl::MutexLock lock(&mu_);
    absl::Time now = clock_.Now();
    auto it = cache_.find(invoker.value());
    if (it != cache_.end()) {
      if (now < it->second.expires) {
        if (!it->second.error.ok()) return it->second.error;
        if (it->second.owner) return *it->second.owner;
        return absl::NotFoundError(absl::StrCat("no peer owns invoker ", invoker.value()));
      }
      cache_.erase(it);
    }
    if (peers_.empty()) return absl::NotFoundError("no peers to ask");
    auto f = flights_.find(invoker.value());
    if (f != flights_.end()) {
      flight = f->second;
    } else {
      if (!fanouts_.TryTake(now)) {
        if (!refusing_) {
          refusing_ = true;
          LogWarning("bus", absl::StrCat("more than ", options_.fanouts_per_second,
                                         " ownership fan-outs per second: refusing more for now"));
        }
        return absl::UnavailableError("too many ownership queries to the peers; retry later");
      }
      if (refusing_) {
        refusing_ = false;
        LogInfo("bus", "ownership fan-outs below their rate limit again");
      }
      flight = std::make_shared<Flight>();
      flights_[invoker.value()] = flight;
      leader = true;
    }
  }
  if (!leader) {
    if (!flight->done.WaitForNotificationWithTimeout(options_.deadline + absl::Seconds(1))) {
      return absl::UnavailableError("the ownership query did not finish in time");
    }
    return flight->result;
  }
  absl::StatusOr<CcfId> result = FanOut(invoker);
  flight->result = result;
  {
    absl::MutexLock lock(&mu_);
    flights_.erase(invoker.value());
  }
  flight->done.Notify();
  return result;
}

absl::StatusOr<CcfId> OwnershipResolver::FanOut(const ApiInvokerId& invoker) {
  // Asynchronous calls on one completion queue, each bounded by the same gRPC deadline, so the
  // whole fan-out ends by the deadline without a thread per peer.
  grpc::CompletionQueue cq;
  absl::Time deadline = absl::Now() + options_.deadline;
  size_t next = 0, running = 0;
  auto start = [&](size_t i) {
    PeerClient* client = peers_[i].second;
    auto q = std::make_unique<Query>();
    q->peer = i;
    fv1::OwnershipQuery request;
    *request.mutable_header() = client->NewHeader();
    request.set_api_invoker_id(invoker.value());
    PreparePeerCall(&q->ctx, deadline);
    q->reader = client->stub()->PrepareAsyncQueryInvokerOwnership(&q->ctx, request, &cq);
    q->reader->StartCall();
    Query* raw = q.release();  // taken back from the queue below
    raw->reader->Finish(&raw->answer, &raw->status, raw);
    ++*queries_sent_;
    ++running;
  };
  size_t limit = static_cast<size_t>(std::max(1, options_.max_in_flight));
  while (next < peers_.size() && running < limit) start(next++);
  std::vector<CcfId> claims;
  size_t answered = 0;
  absl::Duration min_ttl = absl::InfiniteDuration(), owner_ttl = absl::ZeroDuration();
  while (running > 0) {
    void* tag = nullptr;
    bool ok = false;
    if (!cq.Next(&tag, &ok)) break;
    std::unique_ptr<Query> q(static_cast<Query*>(tag));
    --running;
    if (next < peers_.size()) start(next++);
    if (!ok || !q->status.ok()) continue;
    ++answered;
    absl::Duration ttl = absl::Seconds(q->answer.ttl_seconds());
    min_ttl = std::min(min_ttl, ttl);
    if (q->answer.owned()) {
      claims.push_back(peers_[q->peer].first);
      owner_ttl = ttl;
    }
  }
  cq.Shutdown();
  void* tag = nullptr;
  bool ok = false;
  while (cq.Next(&tag, &ok)) delete static_cast<Query*>(tag);

  if (claims.size() > 1) {
    std::vector<std::string> names;
    for (const CcfId& c : claims) names.push_back(c.value());
    LogWarning("security", absl::StrCat("invoker ", invoker.value(), " is claimed by ",
                                        claims.size(), " peers (", absl::StrJoin(names, ", "),
                                        "): ownership refused"));
    return absl::FailedPreconditionError(
        absl::StrCat("invoker ", invoker.value(), " is claimed by more than one peer"));
  }
  absl::MutexLock lock(&mu_);
  absl::Time now = clock_.Now();
  if (claims.size() == 1) {
    CacheLocked(invoker.value(),
                {claims[0], absl::OkStatus(), now + std::min(owner_ttl, options_.max_positive_ttl)});
    return claims[0];
  }
  if (answered != peers_.size()) {
    absl::Status unavailable = absl::UnavailableError(absl::StrCat(
        "no peer claimed invoker ", invoker.value(), " but not every peer answered in time"));
    CacheLocked(invoker.value(), {std::nullopt, unavailable, now + options_.retry_after});
    return unavailable;
  }
  CacheLocked(invoker.value(),
              {std::nullopt, absl::OkStatus(), now + std::min(min_ttl, options_.max_negative_ttl)});
  return absl::NotFoundError(absl::StrCat("no peer owns invoker ", invoker.value()));
}

}  // namespace capif
