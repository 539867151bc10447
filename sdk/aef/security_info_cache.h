// SecurityInfoCache: what this AEF's CCF says about each invoker (AEFPSK, invoker root CA),
// fetched off the I/O threads and cached both ways, so no TLS callback waits for the network and
// an invented PSK identity costs the CCF at most one request per not_found_ttl.
//
//   SecurityInfoCache cache(fetch, clock, {});
//   if (auto known = cache.Cached(id)) { ... }               // never blocks
//   cache.FetchAsync(id, [resume] { resume(); });             // `done` once the answer is cached
//   absl::StatusOr<SecurityInfo> info = cache.Get(id, absl::Seconds(5));  // worker threads only
//
// Contract:
//   - one fetch per invoker at a time (later callers wait for it), on `threads` fetcher threads;
//   - answers are cached: found for the max-age the CCF gave (at most max_ttl), NotFound and
//     PermissionDenied for not_found_ttl, anything else (CCF unreachable) for retry_after;
//   - at most fetches_per_second new fetches (burst as many), at most max_pending waiting and
//     max_entries cached: beyond, the answer is Unavailable at once, not fetched and not cached
//     (logged once per change);
//   - Forget() drops an invoker (revocation; an answer being fetched then is not kept);
//     Shutdown() (idempotent, from the owner) joins the threads and calls the waiters left,
//     which then find no answer.
// Thread-safe.
#ifndef CAPIF_SDK_AEF_SECURITY_INFO_CACHE_H_
#define CAPIF_SDK_AEF_SECURITY_INFO_CACHE_H_

#include <deque>
#include <functional>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "common/clock.h"
#include "common/token_bucket.h"

namespace capif {

struct SecurityInfo {
  std::string psk;          // raw AEFPSK ("" if PSK was not selected for this AEF)
  std::string root_ca_pem;  // the invoker root CA (PKI), "" if none
};

struct SecurityInfoCacheOptions {
  int threads = 2;
  size_t max_pending = 256;
  size_t max_entries = 100000;
  absl::Duration max_ttl = absl::Hours(1);
  absl::Duration not_found_ttl = absl::Seconds(30);
  absl::Duration retry_after = absl::Seconds(5);
  double fetches_per_second = 50;
};

class SecurityInfoCache {
 public:
  // Asks the CCF about one invoker; lowers *max_age to what the answer allows.
  using Fetch =
      std::function<absl::StatusOr<SecurityInfo>(const std::string& id, absl::Duration* max_age)>;
  using Options = SecurityInfoCacheOptions;

  SecurityInfoCache(Fetch fetch, const Clock& clock, Options options = {});
  ~SecurityInfoCache();

  // The cached answer, if there is a current one. Never blocks, never fetches.
  std::optional<absl::StatusOr<SecurityInfo>> Cached(const std::string& id);
  // Calls `done` once an answer for `id` is cached (or refused by the limits): at once on this
  // thread if it is, else later on a fetcher thread.
  void FetchAsync(const std::string& id, std::function<void()> done);
  // The answer, fetching if needed and waiting at most `timeout` (Unavailable after it).
  absl::StatusOr<SecurityInfo> Get(const std::string& id, absl::Duration timeout);
  void Forget(const std::string& id);
  void Shutdown();
  // True once per cached answer for `id` (false if none is cached): so that a refusal is logged
  // once, not at every retry of the same identity.
  bool FirstUse(const std::string& id);

  int64_t fetches() const;  // CCF requests made so far

 private:
  struct Entry {
    bool pending = false;
    bool forgotten = false;  // Forget() during the fetch: its answer is not kept
    bool used = false;       // FirstUse() was answered for this answer
    absl::StatusOr<SecurityInfo> answer = absl::UnavailableError("not fetched");
    absl::Time until;
    std::vector<std::function<void()>> waiters;
  };
  std::optional<absl::StatusOr<SecurityInfo>> CurrentLocked(const std::string& id)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Starts a fetch unless one runs; false (and `refusal` set) when a limit refuses it.
  bool StartLocked(const std::string& id, std::function<void()> done, absl::Status* refusal)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void Run();
  static bool HasWork(SecurityInfoCache* c);

  const Fetch fetch_;
  const Clock& clock_;
  const Options options_;
  mutable absl::Mutex mu_;
  absl::flat_hash_map<std::string, Entry> entries_ ABSL_GUARDED_BY(mu_);
  std::deque<std::string> queue_ ABSL_GUARDED_BY(mu_);
  TokenBucket fetch_rate_ ABSL_GUARDED_BY(mu_);
  bool refusing_ ABSL_GUARDED_BY(mu_) = false;
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  int64_t fetches_ ABSL_GUARDED_BY(mu_) = 0;
  std::vector<std::thread> threads_;
};

}  // namespace capif

#endif  // CAPIF_SDK_AEF_SECURITY_INFO_CACHE_H_
