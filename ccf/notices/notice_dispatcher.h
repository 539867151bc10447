// NoticeDispatcher: delivers the durable outbox (NoticeOutbox, stores.h) until every notice is
// acknowledged (TR 33.700-22 solution #17, KI#2 requirement 3).
//
//   NoticeDispatcher d(&outbox, clock, {absl::Milliseconds(500), absl::Seconds(30)},
//                      [&](const OutboundNotice& n) { return SendSomewhere(n); });
//   d.Start(absl::Milliseconds(250));   // background passes; Wake() after an Enqueue
//
// A pass hands every due notice to the deliverer. OK = acknowledged: removed. An error: the
// notice is kept, and tried again after a backoff that doubles from `initial` (first retry) up to
// `max`, so a destination that comes back is served again within `max`. When one notice to a
// destination fails, the others due for it in the same pass wait with it (one dead peer costs
// one timeout per pass, not one per notice). Notices survive restarts: they live in the
// database, and a pass also picks up those another process (capifctl) wrote.
//
// Thread-safe. RunOnce() is for tests (with an injected clock) and for the background thread.
#ifndef CAPIF_CCF_NOTICES_NOTICE_DISPATCHER_H_
#define CAPIF_CCF_NOTICES_NOTICE_DISPATCHER_H_

#include <functional>
#include <thread>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "ccf/store/stores.h"
#include "common/clock.h"

namespace capif {

struct NoticeRetryPolicy {
  absl::Duration initial = absl::Milliseconds(500);
  absl::Duration max = absl::Seconds(30);
};

// The delay before the attempt that follows `failed_attempts` failures (>= 1).
absl::Duration NoticeBackoff(const NoticeRetryPolicy& policy, int failed_attempts);

class NoticeDispatcher {
 public:
  using Deliverer = std::function<absl::Status(const OutboundNotice&)>;

  NoticeDispatcher(NoticeOutbox* outbox, const Clock& clock, NoticeRetryPolicy policy,
                   Deliverer deliver)
      : outbox_(outbox), clock_(clock), policy_(policy), deliver_(std::move(deliver)) {}
  ~NoticeDispatcher() { Stop(); }

  // One pass over the due notices: how many were acknowledged.
  absl::StatusOr<int> RunOnce();

  // Passes on a background thread: after every Wake(), and every `poll` otherwise.
  void Start(absl::Duration poll);
  void Wake();
  // Waits for the pass in progress. Undelivered notices stay in the outbox.
  void Stop();

 private:
  void Loop(absl::Duration poll);
  bool Woken() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return wake_ || stop_; }

  NoticeOutbox* const outbox_;
  const Clock& clock_;
  const NoticeRetryPolicy policy_;
  const Deliverer deliver_;
  absl::Mutex run_mu_;  // one pass at a time
  mutable absl::Mutex mu_;
  bool wake_ ABSL_GUARDED_BY(mu_) = false;
  bool stop_ ABSL_GUARDED_BY(mu_) = false;
  std::thread thread_;
};

}  // namespace capif

#endif  // CAPIF_CCF_NOTICES_NOTICE_DISPATCHER_H_
