#include "ccf/notices/notice_dispatcher.h"

#include <set>
#include <string>

#include "absl/strings/str_cat.h"
#include "common/log.h"

namespace capif {

namespace {
constexpr int kBatch = 100;
}  // namespace

absl::Duration NoticeBackoff(const NoticeRetryPolicy& policy, int failed_attempts) {
  absl::Duration d = policy.initial;
  for (int i = 1; i < failed_attempts && d < policy.max; ++i) d *= 2;
  return std::min(d, policy.max);
}

absl::StatusOr<int> NoticeDispatcher::RunOnce() {
  absl::MutexLock run(&run_mu_);
  auto due = outbox_->Due(clock_.Now(), kBatch);
  if (!due.ok()) return due.status();
  int delivered = 0;
  std::set<std::string> failing;  // destinations that failed during this pass
  for (const OutboundNotice& n : *due) {
    absl::Status s = failing.count(n.destination)
                         ? absl::UnavailableError("an earlier notice to it failed in this pass")
                         : deliver_(n);
    if (s.ok()) {
      absl::Status done = outbox_->Delivered(n.notice_id);
      if (!done.ok()) return done;
      ++delivered;
      LogInfo("notices", absl::StrCat(n.destination, " acknowledged ", n.kind, " notice ",
                                      n.notice_id, " after ", n.attempts + 1, " attempt(s)"));
      continue;
    }
    failing.insert(n.destination);
    absl::Duration wait = NoticeBackoff(policy_, n.attempts + 1);
    absl::Status kept = outbox_->Failed(n.notice_id, clock_.Now() + wait, std::string(s.message()));
    if (!kept.ok()) return kept;
    LogWarning("notices", absl::StrCat(n.kind, " notice ", n.notice_id, " to ", n.destination,
                                       " not delivered (attempt ", n.attempts + 1, "): ",
                                       s.message().substr(0, 200), "; next try in ",
                                       absl::FormatDuration(wait)));
  }
  return delivered;
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
