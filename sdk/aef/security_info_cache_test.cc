#include "sdk/aef/security_info_cache.h"

#include <gtest/gtest.h>

#include <atomic>
#include <thread>

#include "absl/synchronization/notification.h"
#include "common/fake_clock.h"

namespace capif {
namespace {

constexpr absl::Duration kWait = absl::Seconds(10);

// A CCF that knows "inv-known" (valid for 60 s) and nobody else; it can be held.
struct FakeCcf {
  absl::StatusOr<SecurityInfo> Answer(const std::string& id, absl::Duration* max_age) {
    ++asked;
    if (hold) release.WaitForNotificationWithTimeout(kWait);
    if (down) return absl::UnavailableError("the CCF answered HTTP 503");
    if (id != "inv-known") return absl::NotFoundError("no security information");
    *max_age = std::min(*max_age, absl::Seconds(60));
    return SecurityInfo{"key", ""};
  }
  SecurityInfoCache::Fetch Fetch() {
    return [this](const std::string& id, absl::Duration* age) { return Answer(id, age); };
  }
  std::atomic<int> asked{0};
  bool hold = false, down = false;
  absl::Notification release;
};

TEST(SecurityInfoCacheTest, AnswersAreCachedBothWays) {
  FakeCcf ccf;
  FakeClock clock(absl::Now());
  SecurityInfoCache cache(ccf.Fetch(), clock);
  EXPECT_FALSE(cache.Cached("inv-known").has_value());  // Cached() never fetches
  EXPECT_EQ(ccf.asked, 0);
  ASSERT_TRUE(cache.Get("inv-known", kWait).ok());
  EXPECT_EQ(cache.Get("inv-known", kWait)->psk, "key");
  EXPECT_EQ(absl::IsNotFound(cache.Get("inv-invented", kWait).status()), true);
  EXPECT_TRUE(absl::IsNotFound(cache.Cached("inv-invented")->status()));
  EXPECT_EQ(ccf.asked, 2);  // once each
  clock.Advance(absl::Seconds(31));  // past not_found_ttl, within the key's 60 s
  EXPECT_TRUE(cache.Cached("inv-known").has_value());
  EXPECT_FALSE(cache.Cached("inv-invented").has_value());
  clock.Advance(absl::Seconds(30));
  EXPECT_FALSE(cache.Cached("inv-known").has_value());
  EXPECT_TRUE(cache.Get("inv-known", kWait).ok());
  EXPECT_EQ(ccf.asked, 3);
}

TEST(SecurityInfoCacheTest, AnUnreachableCcfIsAskedAgainOnlyAfterRetryAfter) {
  FakeCcf ccf;
  ccf.down = true;
  FakeClock clock(absl::Now());
  SecurityInfoCache cache(ccf.Fetch(), clock);
  EXPECT_TRUE(absl::IsUnavailable(cache.Get("inv-known", kWait).status()));
  EXPECT_TRUE(absl::IsUnavailable(cache.Get("inv-known", kWait).status()));
  EXPECT_EQ(ccf.asked, 1);
  ccf.down = false;
  clock.Advance(absl::Seconds(5));
  EXPECT_TRUE(cache.Get("inv-known", kWait).ok());
  EXPECT_EQ(ccf.asked, 2);
}

TEST(SecurityInfoCacheTest, ConcurrentCallersShareOneFetch) {
  FakeCcf ccf;
  ccf.hold = true;
  FakeClock clock(absl::Now());
  SecurityInfoCache cache(ccf.Fetch(), clock);
  absl::Notification async_done;
  cache.FetchAsync("inv-known", [&] { async_done.Notify(); });
  std::thread waiter([&] { EXPECT_TRUE(cache.Get("inv-known", kWait).ok()); });
  std::thread other([&] { EXPECT_TRUE(cache.Get("inv-known", kWait).ok()); });
  while (ccf.asked == 0) std::this_thread::yield();
  ccf.release.Notify();
  waiter.join();
  other.join();
  EXPECT_TRUE(async_done.WaitForNotificationWithTimeout(kWait));
  EXPECT_EQ(ccf.asked, 1);
  // Already cached: `done` runs at once, on this thread.
  bool ran = false;
  cache.FetchAsync("inv-known", [&] { ran = true; });
  EXPECT_TRUE(ran);
}

TEST(SecurityInfoCacheTest, NewFetchesAreRateLimitedAndRefusalsNotCached) {
  FakeCcf ccf;
  FakeClock clock(absl::Now());
  SecurityInfoCache::Options options;
  options.fetches_per_second = 2;  // burst of 2
  SecurityInfoCache cache(ccf.Fetch(), clock, options);
  EXPECT_TRUE(absl::IsNotFound(cache.Get("inv-a", kWait).status()));
  EXPECT_TRUE(absl::IsNotFound(cache.Get("inv-b", kWait).status()));
  absl::Status refused = cache.Get("inv-c", kWait).status();
  EXPECT_TRUE(absl::IsUnavailable(refused)) << refused;
  EXPECT_FALSE(cache.Cached("inv-c").has_value());
  EXPECT_EQ(ccf.asked, 2);
  // Cached answers cost nothing against the limit.
  EXPECT_TRUE(absl::IsNotFound(cache.Get("inv-a", kWait).status()));
  clock.Advance(absl::Milliseconds(500));  // one token back
  EXPECT_TRUE(absl::IsNotFound(cache.Get("inv-c", kWait).status()));
  EXPECT_EQ(ccf.asked, 3);
}

TEST(SecurityInfoCacheTest, ForgetDuringAFetchDoesNotKeepItsAnswer) {
  FakeCcf ccf;
  ccf.hold = true;
  FakeClock clock(absl::Now());
  SecurityInfoCache cache(ccf.Fetch(), clock);
  absl::Notification done;
  cache.FetchAsync("inv-known", [&] { done.Notify(); });
  while (ccf.asked == 0) std::this_thread::yield();
  cache.Forget("inv-known");  // revoked while the CCF was being asked
  ccf.release.Notify();
  ASSERT_TRUE(done.WaitForNotificationWithTimeout(kWait));
  EXPECT_FALSE(cache.Cached("inv-known").has_value());
}

TEST(SecurityInfoCacheTest, ShutdownJoinsAndLaterCallsAreRefusedAtOnce) {
  FakeCcf ccf;
  ccf.hold = true;
  FakeClock clock(absl::Now());
  SecurityInfoCacheOptions options;
  options.threads = 1;
  SecurityInfoCache cache(ccf.Fetch(), clock, options);
  std::atomic<int> called{0};
  cache.FetchAsync("inv-known", [&] { ++called; });  // taken by the one thread, held
  cache.FetchAsync("inv-other", [&] { ++called; });  // queued behind it
  while (ccf.asked == 0) std::this_thread::yield();
  ccf.release.Notify();
  cache.Shutdown();  // returns: the thread is joined, every waiter called once
  int after = called;
  EXPECT_EQ(after, 2);
  cache.Shutdown();  // idempotent
  bool ran = false;
  cache.FetchAsync("inv-new", [&] { ran = true; });
  EXPECT_TRUE(ran);  // refused at once, on this thread
  EXPECT_TRUE(absl::IsUnavailable(cache.Get("inv-new", kWait).status()));
  EXPECT_EQ(called, after);
}

}  // namespace
}  // namespace capif
