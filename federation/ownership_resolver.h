// OwnershipResolver: TR 33.700-22 solution #14, "which CCF onboarded API invoker X?", asked of
// every peer in parallel when this CCF does not know the invoker's home.
//
//   OwnershipResolver resolver(peers, clock);            // peers: one PeerClient per peer CCF
//   ASSIGN_OR_RETURN(CcfId home, resolver.Resolve(ApiInvokerId("inv-…")));
//
// Contract:
//   - one deadline for the whole fan-out (Options::deadline); at most Options::max_in_flight
//     queries at once, asynchronous (one completion queue, no thread per peer); a slow or dead
//     peer never holds the answer past the deadline;
//   - concurrent Resolve() calls for the same invoker share one fan-out;
//   - exactly one claim wins. Two or more claims are a security event: logged, refused with
//     FailedPrecondition, and not cached;
//   - no claim, with every peer answering: NotFound, cached for the shortest TTL the peers gave
//     (capped by Options::max_negative_ttl);
//   - no claim while some peer did not answer: Unavailable (retry), cached for
//     Options::retry_after so that an outage does not turn every request into a fan-out;
//   - a claim is cached for the claimant's TTL (capped by Options::max_positive_ttl);
//   - at most Options::fanouts_per_second new fan-outs (as many at once): beyond, Unavailable
//     at once, nothing asked, not cached (logged once per change); at most max_entries cached.
// Cache expiry and the rate follow the injected Clock. Thread-safe.
#ifndef CAPIF_FEDERATION_OWNERSHIP_RESOLVER_H_
#define CAPIF_FEDERATION_OWNERSHIP_RESOLVER_H_

#include <atomic>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "absl/time/time.h"
#include "common/clock.h"
#include "common/token_bucket.h"
#include "common/ids.h"
#include "federation/peer_client.h"

namespace capif {

class OwnershipResolver {
 public:
  struct Options {
    absl::Duration deadline = absl::Seconds(2);
    int max_in_flight = 16;
    absl::Duration max_positive_ttl = absl::Minutes(10);
    absl::Duration max_negative_ttl = absl::Minutes(2);
    absl::Duration retry_after = absl::Seconds(5);
    double fanouts_per_second = 20;
    size_t max_entries = 100000;
  };

  // `peers` are (peer CCF id, client) pairs; the clients must outlive the resolver.
  OwnershipResolver(std::vector<std::pair<CcfId, PeerClient*>> peers, const Clock& clock,
                    Options options);

  absl::StatusOr<CcfId> Resolve(const ApiInvokerId& invoker);

  // Drops what is known about `invoker` (e.g. after its offboarding notice).
  void Forget(const ApiInvokerId& invoker);

  // Number of queries sent so far (for tests and metrics).
  int64_t queries_sent() const;

 private:
  struct CacheEntry {
    std::optional<CcfId> owner;  // nullopt: nobody owns it (or `error`)
    absl::Status error;          // Unavailable: some peer did not answer
    absl::Time expires;
  };
  // One fan-out in progress; later callers for the same invoker wait for its result.
  struct Flight {
    absl::Notification done;
    absl::StatusOr<CcfId> result = absl::UnavailableError("not resolved");
  };

  absl::StatusOr<CcfId> FanOut(const ApiInvokerId& invoker);
  void CacheLocked(const std::string& invoker, CacheEntry entry) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  const std::vector<std::pair<CcfId, PeerClient*>> peers_;
  const Clock& clock_;
  const Options options_;
  mutable absl::Mutex mu_;
  absl::flat_hash_map<std::string, CacheEntry> cache_ ABSL_GUARDED_BY(mu_);
  absl::flat_hash_map<std::string, std::shared_ptr<Flight>> flights_ ABSL_GUARDED_BY(mu_);
  TokenBucket fanouts_ ABSL_GUARDED_BY(mu_);
  bool refusing_ ABSL_GUARDED_BY(mu_) = false;
  bool cache_full_ ABSL_GUARDED_BY(mu_) = false;
  std::shared_ptr<std::atomic<int64_t>> queries_sent_ =
      std::make_shared<std::atomic<int64_t>>(0);
};

}  // namespace capif

#endif  // CAPIF_FEDERATION_OWNERSHIP_RESOLVER_H_
