// SharedApiCache: the service APIs each peer shares with this CCF (TS 23.222 8.25,
// DiscoverShareableApis), kept per peer and refreshed in the background, so that Discover and
// security-method requests neither ask every peer again nor wait for a peer that is down.
//
// - A peer's APIs are fetched with the gRPC asynchronous API on one completion queue drained by
//   one thread (no thread per peer per request), each call under `deadline`.
// - Fresh for `ttl`; after that a request still answers from the cache at once and starts a
//   refresh (served stale while the peer is down, as the trust bundle is).
// - A peer never fetched yet is fetched at the first request, which waits for it (at most
//   `deadline`). A failed fetch is not retried before `retry_after` (a dead peer costs one
//   attempt per `retry_after`, not one per request).
// - A peer that fails is logged once when it starts failing and once when it answers again.
//
//   SharedApiCache cache(peers, {});
//   SharedApiSnapshot s = cache.Get("location-query");
//   s.unreachable   // peers with nothing to answer from: their APIs are unknown
//
// Every description kept names the peer as its ccfId (others are dropped, logged). Thread-safe.
#ifndef CAPIF_FEDERATION_SHARED_API_CACHE_H_
#define CAPIF_FEDERATION_SHARED_API_CACHE_H_

#include <map>
#include <memory>
#include <set>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include <grpcpp/completion_queue.h>
#include <nlohmann/json.hpp>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "common/clock.h"
#include "common/ids.h"
#include "federation/peer_client.h"

namespace capif {

struct SharedApiSnapshot {
  std::vector<nlohmann::json> apis;      // each with the sharing peer's ccfId
  std::vector<std::string> stale;        // peers answered from a cache older than the TTL
  std::vector<std::string> unreachable;  // peers that could not be asked and have no cache
};

class SharedApiCache {
 public:
  struct Options {
    absl::Duration deadline = absl::Seconds(2);
    absl::Duration ttl = absl::Seconds(30);
    absl::Duration retry_after = absl::Seconds(5);
  };

  // The clients must outlive this object.
  SharedApiCache(std::vector<std::pair<CcfId, PeerClient*>> peers, const Clock& clock,
                 Options options);
  ~SharedApiCache();

  // The APIs every peer shares (named `api_name`, when not empty).
  SharedApiSnapshot Get(const std::string& api_name);

  // What an operator watches per peer: the age of what is kept, and how many answers were served
  // stale or without that peer's APIs (counted per Get).
  struct PeerStatus {
    std::string peer;
    bool fetched = false;  // ever
    absl::Duration age;    // since the last successful fetch
    bool failing = false;  // the last fetch failed
    uint64_t stale_answers = 0;
    uint64_t missing_answers = 0;
  };
  std::vector<PeerStatus> Status() const;

 private:
  struct Entry {
    bool fetched = false;  // ever
    std::vector<nlohmann::json> apis;
    absl::Time fetched_at = absl::InfinitePast();
    absl::Time last_attempt = absl::InfinitePast();
    bool in_flight = false;
    bool failing = false;
    uint64_t stale_answers = 0;
    uint64_t missing_answers = 0;
  };
  struct Fetch;

  void StartFetch(size_t peer) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void Complete(Fetch& fetch);
  void Drain();
  struct Waiting {
    const SharedApiCache* self;
    const std::set<size_t>* peers;
  };
  // No fetch of `w->peers` in flight any more; evaluated by Await, under mu_.
  static bool Settled(Waiting* w) ABSL_NO_THREAD_SAFETY_ANALYSIS;

  const std::vector<std::pair<CcfId, PeerClient*>> peers_;
  const Clock& clock_;
  const Options options_;
  grpc::CompletionQueue cq_;
  mutable absl::Mutex mu_;
  std::vector<Entry> entries_ ABSL_GUARDED_BY(mu_);
  std::set<Fetch*> in_flight_ ABSL_GUARDED_BY(mu_);
  bool shutting_down_ ABSL_GUARDED_BY(mu_) = false;
  std::thread drainer_;
};

}  // namespace capif

#endif  // CAPIF_FEDERATION_SHARED_API_CACHE_H_
