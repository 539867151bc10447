#include "federation/ownership_resolver.h"

#include <grpcpp/client_context.h>

#include <memory>
#include <thread>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/time/clock.h"
#include "common/log.h"

namespace capif {

namespace fv1 = capif::federation::v1;

namespace {

// The answers of one fan-out.
struct Answers {
  absl::Mutex mu;
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

  // Blocking calls on a bounded set of worker threads, every call bounded by the same gRPC
  // deadline, so the whole fan-out ends by the deadline. (gRPC 1.51's client callback API
  // showed a double free in its completion-queue teardown under test load; threads avoid it.)
  Answers answers;
  absl::Time deadline = absl::Now() + options_.deadline;
  std::atomic<size_t> next{0};
  auto worker = [&]() {
    for (size_t i = next++; i < peers_.size(); i = next++) {
      const auto& [peer, client] = peers_[i];
      fv1::OwnershipQuery request;
      *request.mutable_header() = client->NewHeader();
      request.set_api_invoker_id(invoker.value());
      fv1::OwnershipAnswer answer;
      grpc::ClientContext ctx;
      PreparePeerCall(&ctx, deadline);
      ++*queries_sent_;
      grpc::Status s = client->stub()->QueryInvokerOwnership(&ctx, request, &answer);
      if (!s.ok()) continue;
      absl::MutexLock lock(&answers.mu);
      ++answers.answered;
      absl::Duration ttl = absl::Seconds(answer.ttl_seconds());
      answers.min_ttl = std::min(answers.min_ttl, ttl);
      if (answer.owned()) {
        answers.claims.push_back(peer);
        answers.owner_ttl = ttl;
      }
    }
  };
  size_t n = std::min<size_t>(peers_.size(), std::max(1, options_.max_in_flight));
  std::vector<std::thread> threads;
  for (size_t t = 0; t < n; ++t) threads.emplace_back(worker);
  for (std::thread& t : threads) t.join();

  absl::MutexLock answers_lock(&answers.mu);
  std::vector<CcfId> claims = answers.claims;
  bool everyone_answered = answers.answered == static_cast<int>(peers_.size());
  absl::Duration min_ttl = answers.min_ttl, owner_ttl = answers.owner_ttl;

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
