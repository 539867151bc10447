#include "federation/ownership_resolver.h"

#include <grpcpp/client_context.h>

#include <memory>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/time/clock.h"
#include "common/log.h"

namespace capif {

namespace fv1 = capif::federation::v1;

namespace {

// One fan-out. Shared with the gRPC callbacks, which may outlive Resolve() after a deadline.
struct FanOut {
  struct Call {
    grpc::ClientContext ctx;
    fv1::OwnershipQuery request;
    fv1::OwnershipAnswer answer;
  };

  // Copied in, so the callbacks never touch the resolver (it may be gone after a deadline).
  std::vector<std::pair<CcfId, PeerClient*>> peers;
  int max_in_flight = 1;
  std::shared_ptr<std::atomic<int64_t>> queries_sent;

  absl::Mutex mu;
  std::vector<std::unique_ptr<Call>> calls ABSL_GUARDED_BY(mu);
  size_t next ABSL_GUARDED_BY(mu) = 0;
  int in_flight ABSL_GUARDED_BY(mu) = 0;
  int done ABSL_GUARDED_BY(mu) = 0;
  std::vector<CcfId> claims ABSL_GUARDED_BY(mu);
  int answered ABSL_GUARDED_BY(mu) = 0;
  absl::Duration min_ttl ABSL_GUARDED_BY(mu) = absl::InfiniteDuration();
  absl::Duration owner_ttl ABSL_GUARDED_BY(mu) = absl::ZeroDuration();
};

}  // namespace

OwnershipResolver::OwnershipResolver(std::vector<std::pair<CcfId, PeerClient*>> peers,
                                     const Clock& clock, Options options)
    : peers_(std::move(peers)), clock_(clock), options_(options) {}

int64_t OwnershipResolver::queries_sent() const { return queries_sent_->load(); }

void OwnershipResolver::Forget(const ApiInvokerId& invoker) {
  absl::MutexLock lock(&mu_);
  cache_.erase(invoker.value());
}

absl::StatusOr<CcfId> OwnershipResolver::Resolve(const ApiInvokerId& invoker) {
  {
    absl::MutexLock lock(&mu_);
    auto it = cache_.find(invoker.value());
    if (it != cache_.end()) {
      if (clock_.Now() < it->second.expires) {
        if (it->second.owner) return *it->second.owner;
        return absl::NotFoundError(absl::StrCat("no peer owns invoker ", invoker.value()));
      }
      cache_.erase(it);
    }
  }
  if (peers_.empty()) return absl::NotFoundError("no peers to ask");

  auto fan = std::make_shared<FanOut>();
  fan->peers = peers_;
  fan->max_in_flight = std::max(1, options_.max_in_flight);
  fan->queries_sent = queries_sent_;
  std::chrono::system_clock::time_point deadline =
      absl::ToChronoTime(absl::Now() + options_.deadline);
  {
    absl::MutexLock lock(&fan->mu);
    for (const auto& [id, client] : peers_) {
      auto call = std::make_unique<FanOut::Call>();
      call->ctx.set_deadline(deadline);
      *call->request.mutable_header() = client->NewHeader();
      call->request.set_api_invoker_id(invoker.value());
      fan->calls.push_back(std::move(call));
    }
  }
  // Launches queries while fewer than max_in_flight are running; called again on completion.
  // The function holds only a weak reference to itself (no cycle); each call holds a strong one.
  auto launch_next = std::make_shared<std::function<void()>>();
  std::weak_ptr<std::function<void()>> weak_launch = launch_next;
  *launch_next = [fan, weak_launch]() {
    while (true) {
      size_t i;
      {
        absl::MutexLock lock(&fan->mu);
        if (fan->next >= fan->calls.size() || fan->in_flight >= fan->max_in_flight) return;
        i = fan->next++;
        ++fan->in_flight;
      }
      ++*fan->queries_sent;
      FanOut::Call* call;
      {
        absl::MutexLock lock(&fan->mu);
        call = fan->calls[i].get();
      }
      PeerClient* client = fan->peers[i].second;
      CcfId peer = fan->peers[i].first;
      auto launch_next = weak_launch.lock();
      client->stub()->async()->QueryInvokerOwnership(
          &call->ctx, &call->request, &call->answer,
          [fan, call, peer, launch_next](grpc::Status s) {
            {
              absl::MutexLock lock(&fan->mu);
              --fan->in_flight;
              ++fan->done;
              if (s.ok()) {
                ++fan->answered;
                absl::Duration ttl = absl::Seconds(call->answer.ttl_seconds());
                fan->min_ttl = std::min(fan->min_ttl, ttl);
                if (call->answer.owned()) {
                  fan->claims.push_back(peer);
                  fan->owner_ttl = ttl;
                }
              }
            }
            (*launch_next)();
          });
    }
  };
  (*launch_next)();

  absl::MutexLock lock(&fan->mu);
  auto all_done = [&fan]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(fan->mu) {
    return fan->done == static_cast<int>(fan->calls.size());
  };
  fan->mu.AwaitWithDeadline(absl::Condition(&all_done), absl::FromChrono(deadline));
  if (!all_done()) {
    for (auto& c : fan->calls) c->ctx.TryCancel();  // late answers are ignored
  }
  std::vector<CcfId> claims = fan->claims;
  bool everyone_answered = fan->answered == static_cast<int>(fan->calls.size());
  absl::Duration min_ttl = fan->min_ttl, owner_ttl = fan->owner_ttl;

  if (claims.size() > 1) {
    std::vector<std::string> names;
    for (const CcfId& c : claims) names.push_back(c.value());
    LogWarning("security", absl::StrCat("invoker ", invoker.value(), " is claimed by ",
                                        claims.size(), " peers (", absl::StrJoin(names, ", "),
                                        "): ownership refused"));
    return absl::FailedPreconditionError(
        absl::StrCat("invoker ", invoker.value(), " is claimed by more than one peer"));
  }
  absl::MutexLock cache_lock(&mu_);
  if (claims.size() == 1) {
    cache_[invoker.value()] = {claims[0],
                               clock_.Now() + std::min(owner_ttl, options_.max_positive_ttl)};
    return claims[0];
  }
  if (!everyone_answered) {
    return absl::UnavailableError(absl::StrCat(
        "no peer claimed invoker ", invoker.value(), " but not every peer answered in time"));
  }
  cache_[invoker.value()] = {std::nullopt,
                             clock_.Now() + std::min(min_ttl, options_.max_negative_ttl)};
  return absl::NotFoundError(absl::StrCat("no peer owns invoker ", invoker.value()));
}

}  // namespace capif
