#include "sdk/aef/security_info_cache.h"

#include <algorithm>
#include <memory>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/notification.h"
#include "common/log.h"

namespace capif {

SecurityInfoCache::SecurityInfoCache(Fetch fetch, const Clock& clock, Options options)
    : fetch_(std::move(fetch)),
      clock_(clock),
      options_(options),
      fetch_rate_(options.fetches_per_second, clock.Now()) {
  for (int i = 0; i < std::max(1, options_.threads); ++i) threads_.emplace_back([this] { Run(); });
}

SecurityInfoCache::~SecurityInfoCache() { Shutdown(); }

std::optional<absl::StatusOr<SecurityInfo>> SecurityInfoCache::CurrentLocked(
    const std::string& id) {
  auto it = entries_.find(id);
  if (it == entries_.end() || it->second.pending || clock_.Now() >= it->second.until) {
    return std::nullopt;
  }
  return it->second.answer;
}

std::optional<absl::StatusOr<SecurityInfo>> SecurityInfoCache::Cached(const std::string& id) {
  absl::MutexLock lock(&mu_);
  return CurrentLocked(id);
}

bool SecurityInfoCache::StartLocked(const std::string& id, std::function<void()> done,
                                    absl::Status* refusal) {
  auto it = entries_.find(id);
  if (it != entries_.end() && it->second.pending) {
    it->second.waiters.push_back(std::move(done));
    return true;
  }
  absl::Time now = clock_.Now();
  if (it == entries_.end() && entries_.size() >= options_.max_entries) {
    absl::erase_if(entries_, [now](const auto& e) { return !e.second.pending && now >= e.second.until; });
  }
  const char* why = nullptr;
  if (stopping_) {
    why = "shutting down";
  } else if (it == entries_.end() && entries_.size() >= options_.max_entries) {
    why = "too many invokers cached";
  } else if (queue_.size() >= options_.max_pending) {
    why = "too many requests to the CCF waiting";
  } else if (!fetch_rate_.TryTake(now)) {  // takes one only when nothing else refuses
    why = "too many unknown invokers at once";
  }
  if (why != nullptr) {
    if (!refusing_) {
      refusing_ = true;
      LogWarning("aef", absl::StrCat("not asking the CCF about new invokers for now: ", why));
    }
    *refusal = absl::UnavailableError(absl::StrCat("not asked: ", why, "; retry later"));
    return false;
  }
  if (refusing_) {
    refusing_ = false;
    LogInfo("aef", "asking the CCF about new invokers again");
  }
  Entry& entry = entries_[id];
  entry.pending = true;
  entry.forgotten = false;
  entry.waiters.push_back(std::move(done));
  queue_.push_back(id);
  return true;
}

void SecurityInfoCache::FetchAsync(const std::string& id, std::function<void()> done) {
  {
    absl::MutexLock lock(&mu_);
    absl::Status refusal;
    if (!CurrentLocked(id).has_value() && StartLocked(id, done, &refusal)) return;
  }
  done();
}

absl::StatusOr<SecurityInfo> SecurityInfoCache::Get(const std::string& id,
                                                    absl::Duration timeout) {
  auto answered = std::make_shared<absl::Notification>();
  {
    absl::MutexLock lock(&mu_);
    if (auto current = CurrentLocked(id)) return *current;
    absl::Status refusal;
    if (!StartLocked(id, [answered] { answered->Notify(); }, &refusal)) return refusal;
  }
  if (!answered->WaitForNotificationWithTimeout(timeout)) {
    return absl::UnavailableError("the CCF did not answer in time");
  }
  if (auto current = Cached(id)) return *current;
  return absl::UnavailableError("the invoker's authorization changed meanwhile; retry");
}

bool SecurityInfoCache::FirstUse(const std::string& id) {
  absl::MutexLock lock(&mu_);
  auto it = entries_.find(id);
  if (it == entries_.end() || it->second.pending || it->second.used) return false;
  it->second.used = true;
  return true;
}

void SecurityInfoCache::Forget(const std::string& id) {
  absl::MutexLock lock(&mu_);
  auto it = entries_.find(id);
  if (it == entries_.end()) return;
  if (it->second.pending) {
    it->second.forgotten = true;  // what is being fetched may predate the revocation
  } else {
    entries_.erase(it);
  }
}

bool SecurityInfoCache::HasWork(SecurityInfoCache* c) ABSL_NO_THREAD_SAFETY_ANALYSIS {
  return c->stopping_ || !c->queue_.empty();
}

void SecurityInfoCache::Run() {
  absl::MutexLock lock(&mu_);
  for (;;) {
    mu_.Await(absl::Condition(&SecurityInfoCache::HasWork, this));
    if (stopping_) return;
    std::string id = std::move(queue_.front());
    queue_.pop_front();
    mu_.Unlock();
    absl::Duration max_age = options_.max_ttl;
    absl::StatusOr<SecurityInfo> answer = fetch_(id, &max_age);
    mu_.Lock();
    ++fetches_;
    Entry& entry = entries_[id];
    std::vector<std::function<void()>> waiters = std::move(entry.waiters);
    entry.waiters.clear();
    if (entry.forgotten) {
      entries_.erase(id);
    } else {
      absl::Duration ttl = options_.retry_after;
      if (answer.ok()) {
        ttl = std::min(max_age, options_.max_ttl);
      } else if (absl::IsNotFound(answer.status()) || absl::IsPermissionDenied(answer.status())) {
        ttl = options_.not_found_ttl;
      }
      entry.answer = std::move(answer);
      entry.until = clock_.Now() + ttl;
      entry.pending = false;
      entry.used = false;
    }
    mu_.Unlock();
    for (auto& done : waiters) done();
    mu_.Lock();
  }
}

void SecurityInfoCache::Shutdown() {
  {
    absl::MutexLock lock(&mu_);
    stopping_ = true;
  }
  for (std::thread& t : threads_) t.join();
  threads_.clear();
  std::vector<std::function<void()>> dropped;
  {
    absl::MutexLock lock(&mu_);
    for (auto& [id, entry] : entries_) {
      for (auto& w : entry.waiters) dropped.push_back(std::move(w));
      entry.waiters.clear();
    }
    queue_.clear();
  }
  // Called, outside the lock: a waiting Get() answers Unavailable at once, and a paused
  // handshake is resumed (exactly once, as HttpsServer requires) and then fails.
  for (auto& done : dropped) done();
}

int64_t SecurityInfoCache::fetches() const {
  absl::MutexLock lock(&mu_);
  return fetches_;
}

}  // namespace capif
