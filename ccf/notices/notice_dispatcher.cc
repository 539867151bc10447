#include "ccf/notices/notice_dispatcher.h"

#include <algorithm>
#include <set>
#include <string>

#include "absl/strings/str_cat.h"
#include "common/log.h"
#include "common/status_macros.h"

namespace capif {

namespace {
constexpr int kBatch = 100;
constexpr int kBatchesPerPass = 10;
}  // namespace

absl::Duration NoticeBackoff(const NoticeRetryPolicy& policy, int failed_attempts) {
  absl::Duration d = policy.initial;
  for (int i = 1; i < failed_attempts && d < policy.max; ++i) d *= 2;
  return std::min(d, policy.max);
}

void NoticeDispatcher::DeadLetters(absl::Time now) {
  auto dead = outbox_->DeadLetter(now - policy_.dead_letter_after, now);
  if (!dead.ok()) {
    LogError("notices", absl::StrCat("outbox: ", dead.status().ToString()));
    return;
  }
  std::map<std::string, int> by_destination;
  for (const OutboundNotice& n : *dead) ++by_destination[n.destination];
  for (const auto& [destination, count] : by_destination) {
    LogError("notices", absl::StrCat(count, " notice(s) to ", destination, " given up after ",
                                     absl::FormatDuration(policy_.dead_letter_after),
                                     " without acknowledgement (dead letters, listed by capifctl "
                                     "notices)"));
  }
}

absl::Status NoticeDispatcher::Failed(const OutboundNotice& n, const absl::Status& s,
                                      absl::Time now) {
  int& failures = failures_[n.destination];
  kinds_[n.destination] = n.kind;
  if (failures == 0) {
    LogWarning("notices", absl::StrCat("notices to ", n.destination, " are failing (", n.kind,
                                       " notice ", n.notice_id, ": ",
                                       s.message().substr(0, 200), "); retrying with backoff up "
                                       "to ", absl::FormatDuration(policy_.max)));
  }
  // After a restart the notice's own count carries the backoff on.
  failures = std::max(failures + 1, n.attempts + 1);
  absl::Duration wait = NoticeBackoff(policy_, failures);
  RETURN_IF_ERROR(outbox_->Failed(n.notice_id, now + wait, std::string(s.message())));
  return outbox_->Postpone(n.destination, now + wait);
}

absl::StatusOr<int> NoticeDispatcher::RunOnce() {
  absl::MutexLock run(&run_mu_);
  if (!own_claims_released_) {
    // Claims this replica's previous process left when it was killed mid-pass: its own, so
    // nobody is delivering them; taken back now instead of after the lease.
    RETURN_IF_ERROR(outbox_->ReleaseOwnClaims());
    own_claims_released_ = true;
  }
  const absl::Time now = clock_.Now();
  DeadLetters(now);
  int delivered = 0;
  std::set<std::string> failing;  // destinations that failed during this pass
  absl::Status kept;
  // A full batch is read again: what it held is delivered or postponed by now, so the next one
  // holds other notices (those behind a dead destination's are served in the same pass).
  for (int batch = 0; batch < kBatchesPerPass && kept.ok(); ++batch) {
    auto due = outbox_->Claim(now, kBatch, now + policy_.lease);
    if (!due.ok()) return due.status();
    for (const OutboundNotice& n : *due) {
      if (failing.count(n.destination)) {
        // Postponed with the one that failed; given back so the postponement governs.
        kept = outbox_->Release(n.notice_id);
        if (!kept.ok()) break;
        continue;
      }
      absl::Status s = deliver_(n);
      if (!s.ok()) {
        failing.insert(n.destination);
        kept = Failed(n, s, now);
        if (!kept.ok()) break;
        continue;
      }
      kept = outbox_->Delivered(n.notice_id);
      if (!kept.ok()) break;
      ++delivered;
      auto was = failures_.find(n.destination);
      if (was != failures_.end()) {
        LogInfo("notices", absl::StrCat(n.destination, " is reachable again after ", was->second,
                                        " failed attempt(s)"));
        failures_.erase(was);
        kinds_.erase(n.destination);
      }
      LogInfo("notices", absl::StrCat(n.destination, " acknowledged ", n.kind, " notice ",
                                      n.notice_id, " after ", n.attempts + 1, " attempt(s)"));
    }
    if (due->size() < static_cast<size_t>(kBatch)) break;
  }
  {
    absl::MutexLock lock(&failing_mu_);
    failing_ = failures_;
    failing_kinds_ = kinds_;
  }
  if (!kept.ok()) return kept;
  return delivered;
}

std::map<std::string, int> NoticeDispatcher::FailingDestinations() const {
  absl::MutexLock lock(&failing_mu_);
  return failing_;
}

std::map<std::string, std::string> NoticeDispatcher::FailingDestinationKinds() const {
  absl::MutexLock lock(&failing_mu_);
  return failing_kinds_;
}

void NoticeDispatcher::Start(absl::Duration poll) {
  thread_ = std::thread([this, poll] { Loop(poll); });
}

void NoticeDispatcher::Wake() {
  absl::MutexLock lock(&mu_);
  wake_ = true;
}

void NoticeDispatcher::Stop() {
  {
    absl::MutexLock lock(&mu_);
    stop_ = true;
  }
  if (thread_.joinable()) thread_.join();
}

void NoticeDispatcher::Loop(absl::Duration poll) {
  for (;;) {
    auto n = RunOnce();
    if (!n.ok()) LogError("notices", absl::StrCat("outbox: ", n.status().ToString()));
    absl::MutexLock lock(&mu_);
    mu_.AwaitWithTimeout(absl::Condition(this, &NoticeDispatcher::Woken), poll);
    if (stop_) return;
    wake_ = false;
  }
}

}  // namespace capif
