// NoticeDispatcher: delivers the durable outbox (NoticeOutbox, stores.h) until every notice is
// acknowledged (TR 33.700-22 solution #17, KI#2 requirement 3).
//
//   NoticeDispatcher d(&outbox, clock, {absl::Milliseconds(500), absl::Seconds(30)},
//                      [&](const OutboundNotice& n) { return SendSomewhere(n); });
//   d.Start(absl::Milliseconds(250));   // background passes; Wake() after an Enqueue
//
// A pass hands every due notice to the deliverer. OK = acknowledged: removed. An error: the
// notice is kept, and its destination is retried after a backoff that doubles from `initial`
// (first retry) up to `max` with each consecutive failure, so a destination that comes back is
// served again within `max`. Backoff is per destination: when one notice to it fails, every
// other notice to it waits until the same time (one dead peer or AEF costs one attempt per
// backoff, however many notices it has, and nothing else is rewritten). Logging is per
// destination and per change of state: one warning when it starts failing, one line when it is
// reachable again, one error when notices to it become dead letters: notices older than
// `dead_letter_after` are given up, kept (capifctl notices shows them) but never tried again.
// Notices survive restarts: they live in the database, and a pass also picks up those another
// process (capifctl) wrote. Replicas on one database claim what a pass takes (policy.lease); the
// first pass of a process gives back the claims its replica's previous process left.
//
// Thread-safe. RunOnce() is for tests (with an injected clock) and for the background thread.
#ifndef CAPIF_CCF_NOTICES_NOTICE_DISPATCHER_H_
#define CAPIF_CCF_NOTICES_NOTICE_DISPATCHER_H_

#include <functional>
#include <map>
#include <string>
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
  absl::Duration dead_letter_after = absl::Hours(24 * 7);
  // How long a pass holds the notices it took (NoticeOutbox::Claim): another replica's
  // dispatcher takes them after this if this process dies mid-pass. Longer than a pass's
  // attempts take (each is bounded by its deliverer's deadline).
  absl::Duration lease = absl::Seconds(30);
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

  // The destinations failing now, and their consecutive failed attempts (for metrics).
  std::map<std::string, int> FailingDestinations() const;
  // The kind of the last failed notice of each of them.
  std::map<std::string, std::string> FailingDestinationKinds() const;

 private:
  void Loop(absl::Duration poll);
  bool Woken() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return wake_ || stop_; }

  NoticeOutbox* const outbox_;
  const Clock& clock_;
  const NoticeRetryPolicy policy_;
  const Deliverer deliver_;
  void DeadLetters(absl::Time now) ABSL_EXCLUSIVE_LOCKS_REQUIRED(run_mu_);
  // Records a failed attempt: the destination's backoff grows and all its notices wait.
  absl::Status Failed(const OutboundNotice& n, const absl::Status& s, absl::Time now)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(run_mu_);

  absl::Mutex run_mu_;  // one pass at a time
  bool own_claims_released_ ABSL_GUARDED_BY(run_mu_) = false;
  // Consecutive failed attempts of each destination failing now.
  std::map<std::string, int> failures_ ABSL_GUARDED_BY(run_mu_);
  std::map<std::string, std::string> kinds_ ABSL_GUARDED_BY(run_mu_);
  mutable absl::Mutex failing_mu_;
  std::map<std::string, int> failing_ ABSL_GUARDED_BY(failing_mu_);  // a copy for readers
  std::map<std::string, std::string> failing_kinds_ ABSL_GUARDED_BY(failing_mu_);
  mutable absl::Mutex mu_;
  bool wake_ ABSL_GUARDED_BY(mu_) = false;
  bool stop_ ABSL_GUARDED_BY(mu_) = false;
  std::thread thread_;
};

}  // namespace capif

#endif  // CAPIF_CCF_NOTICES_NOTICE_DISPATCHER_H_
