#include "ccf/notices/notice_dispatcher.h"

#include <gtest/gtest.h>

#include <map>
#include <thread>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "ccf/store/sql_stores.h"
#include "ccf/store/testing/test_storage.h"
#include "common/fake_clock.h"
#include "common/testing/test_paths.h"

namespace capif {
namespace {

TEST(NoticeBackoffTest, DoublesUpToTheMaximum) {
  NoticeRetryPolicy p{absl::Milliseconds(500), absl::Seconds(3)};
  EXPECT_EQ(NoticeBackoff(p, 1), absl::Milliseconds(500));
  EXPECT_EQ(NoticeBackoff(p, 2), absl::Seconds(1));
  EXPECT_EQ(NoticeBackoff(p, 3), absl::Seconds(2));
  EXPECT_EQ(NoticeBackoff(p, 4), absl::Seconds(3));
  EXPECT_EQ(NoticeBackoff(p, 1000), absl::Seconds(3));
}

class NoticeDispatcherTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto db = OpenCcfDatabase(
        TestTmpDir(::testing::UnitTest::GetInstance()->current_test_info()->name()));
    ASSERT_TRUE(db.ok()) << db.status();
    outbox_ = std::make_unique<SqlNoticeOutbox>(*db);
  }
  // Delivers to the destinations marked up; records every attempt.
  absl::Status Deliver(const OutboundNotice& n) {
    attempts_.push_back(n.notice_id);
    if (up_[n.destination]) return absl::OkStatus();
    return absl::UnavailableError("connection refused");
  }
  NoticeDispatcher Make() {
    return NoticeDispatcher(outbox_.get(), clock_, {absl::Seconds(1), absl::Seconds(4)},
                            [this](const OutboundNotice& n) { return Deliver(n); });
  }

  FakeClock clock_;
  std::unique_ptr<SqlNoticeOutbox> outbox_;
  std::map<std::string, bool> up_;
  std::vector<std::string> attempts_;
};

TEST_F(NoticeDispatcherTest, RetriesWithBackoffUntilAcknowledged) {
  ASSERT_TRUE(outbox_->Enqueue({{"n-1", "ccf-b", kNoticeOffboarding, "x", clock_.Now()}}).ok());
  NoticeDispatcher d = Make();
  EXPECT_EQ(*d.RunOnce(), 0);
  EXPECT_EQ(attempts_.size(), 1u);
  // Not due again before the backoff has passed.
  clock_.Advance(absl::Milliseconds(999));
  EXPECT_EQ(*d.RunOnce(), 0);
  EXPECT_EQ(attempts_.size(), 1u);
  clock_.Advance(absl::Milliseconds(1));
  EXPECT_EQ(*d.RunOnce(), 0);
  EXPECT_EQ(attempts_.size(), 2u);
  // Second retry after 2 s, then the cap of 4 s.
  clock_.Advance(absl::Seconds(2));
  EXPECT_EQ(*d.RunOnce(), 0);
  clock_.Advance(absl::Seconds(4));
  EXPECT_EQ(*d.RunOnce(), 0);
  EXPECT_EQ(attempts_.size(), 4u);
  auto pending = outbox_->Pending();
  ASSERT_EQ(pending->size(), 1u);
  EXPECT_EQ((*pending)[0].attempts, 4);
  EXPECT_EQ((*pending)[0].next_attempt, clock_.Now() + absl::Seconds(4));
  EXPECT_EQ((*pending)[0].last_error, "connection refused");
  // The peer comes back: delivered within one retry interval, then gone from the outbox.
  up_["ccf-b"] = true;
  clock_.Advance(absl::Seconds(4));
  EXPECT_EQ(*d.RunOnce(), 1);
  EXPECT_TRUE(outbox_->Pending()->empty());
  EXPECT_EQ(*d.RunOnce(), 0);
  EXPECT_EQ(attempts_.size(), 5u);
}

TEST_F(NoticeDispatcherTest, OneDeadDestinationDoesNotHoldUpOthers) {
  up_["ccf-c"] = true;
  absl::Time t = clock_.Now();
  ASSERT_TRUE(outbox_->Enqueue({{"n-1", "ccf-b", kNoticeOffboarding, "x", t},
                                {"n-2", "ccf-b", kNoticeOffboarding, "y", t},
                                {"n-3", "ccf-c", kNoticeRevocation, "z", t}})
                  .ok());
  NoticeDispatcher d = Make();
  EXPECT_EQ(*d.RunOnce(), 1);
  // One attempt at the dead peer per pass; its second notice waits with it, untried.
  EXPECT_EQ(attempts_, (std::vector<std::string>{"n-1", "n-3"}));
  auto pending = outbox_->Pending();
  ASSERT_EQ(pending->size(), 2u);
  EXPECT_EQ((*pending)[0].attempts, 1);
  EXPECT_EQ((*pending)[1].attempts, 0);
  EXPECT_EQ((*pending)[0].next_attempt, (*pending)[1].next_attempt);
  EXPECT_EQ(d.FailingDestinations(), (std::map<std::string, int>{{"ccf-b", 1}}));
}

// Issue 10, problem 9: a thousand notices to an AEF that is gone cost one attempt per backoff,
// not a thousand per pass; an idle pass touches nothing.
TEST_F(NoticeDispatcherTest, ManyNoticesToADeadDestinationCostOneAttemptPerBackoff) {
  std::vector<OutboundNotice> notices;
  for (int i = 0; i < 1000; ++i) {
    notices.push_back({"n-" + std::to_string(i), "aef-gone", kNoticeAefRevoke, "{}", clock_.Now()});
  }
  notices.push_back({"c-1", "ccf-c", kNoticeRevocation, "z", clock_.Now()});
  up_["ccf-c"] = true;
  ASSERT_TRUE(outbox_->Enqueue(notices).ok());
  NoticeDispatcher d = Make();
  EXPECT_EQ(*d.RunOnce(), 1);
  EXPECT_EQ(attempts_, (std::vector<std::string>{"n-0", "c-1"}));  // another destination served
  EXPECT_TRUE(outbox_->Claim(clock_.Now(), 100, clock_.Now())->empty());  // all postponed
  for (int pass = 0; pass < 10; ++pass) EXPECT_EQ(*d.RunOnce(), 0);
  EXPECT_EQ(attempts_.size(), 2u);
  // Each backoff: one attempt; the backoff grows per destination, not per notice.
  clock_.Advance(absl::Seconds(1));
  EXPECT_EQ(*d.RunOnce(), 0);
  EXPECT_EQ(attempts_.size(), 3u);
  clock_.Advance(absl::Seconds(1));
  EXPECT_EQ(*d.RunOnce(), 0);
  EXPECT_EQ(attempts_.size(), 3u);  // second failure: 2 s
  clock_.Advance(absl::Seconds(1));
  EXPECT_EQ(*d.RunOnce(), 0);
  EXPECT_EQ(attempts_.size(), 4u);
  EXPECT_EQ(d.FailingDestinations(), (std::map<std::string, int>{{"aef-gone", 3}}));
  // It comes back: everything due is delivered, and it is no longer failing.
  up_["aef-gone"] = true;
  clock_.Advance(absl::Seconds(4));
  while (*d.RunOnce() > 0) {
  }
  EXPECT_TRUE(outbox_->Pending()->empty());
  EXPECT_TRUE(d.FailingDestinations().empty());
}

TEST_F(NoticeDispatcherTest, NoticesNeverAcknowledgedBecomeDeadLetters) {
  ASSERT_TRUE(outbox_->Enqueue({{"n-1", "ccf-b", kNoticeOffboarding, "x", clock_.Now(), 0, {}, "",
                                 "inv-1"}})
                  .ok());
  NoticeDispatcher d(outbox_.get(), clock_,
                     {absl::Seconds(1), absl::Seconds(4), /*dead_letter_after=*/absl::Minutes(10)},
                     [this](const OutboundNotice& n) { return Deliver(n); });
  EXPECT_EQ(*d.RunOnce(), 0);
  clock_.Advance(absl::Minutes(10) + absl::Seconds(1));
  // Enqueued later: still live.
  ASSERT_TRUE(outbox_->Enqueue({{"n-2", "ccf-b", kNoticeOffboarding, "y", clock_.Now()}}).ok());
  attempts_.clear();
  EXPECT_EQ(*d.RunOnce(), 0);
  EXPECT_EQ(attempts_, std::vector<std::string>{"n-2"});  // n-1 is not tried any more
  auto pending = outbox_->Pending();
  ASSERT_EQ(pending->size(), 2u);
  EXPECT_TRUE((*pending)[0].dead());
  EXPECT_EQ((*pending)[0].dead_since, clock_.Now());
  EXPECT_EQ((*pending)[0].api_invoker_id, "inv-1");
  EXPECT_FALSE((*pending)[1].dead());
  // Dead letters stay dead, however long it runs; the peer coming back does not revive them.
  up_["ccf-b"] = true;
  clock_.Advance(absl::Hours(1));
  attempts_.clear();
  EXPECT_EQ(*d.RunOnce(), 0);  // n-2 is dead by now too
  EXPECT_TRUE(attempts_.empty());
  EXPECT_EQ(outbox_->Pending()->size(), 2u);
}

TEST_F(NoticeDispatcherTest, BackgroundThreadDeliversAfterWake) {
  up_["ccf-b"] = true;
  absl::Mutex mu;
  int delivered = 0;
  NoticeDispatcher d(outbox_.get(), clock_, {absl::Seconds(1), absl::Seconds(4)},
                     [&](const OutboundNotice&) {
                       absl::MutexLock lock(&mu);
                       ++delivered;
                       return absl::OkStatus();
                     });
  // A long poll: only Wake() can make the second pass happen in time.
  d.Start(absl::Hours(1));
  ASSERT_TRUE(outbox_->Enqueue({{"n-1", "ccf-b", kNoticeOffboarding, "x", clock_.Now()}}).ok());
  d.Wake();
  absl::MutexLock lock(&mu);
  EXPECT_TRUE(mu.AwaitWithTimeout(absl::Condition(
                                      +[](int* n) { return *n == 1; }, &delivered),
                                  absl::Seconds(30)));
}

// Several replicas on one database: each runs a dispatcher on its own connection(s).
class ReplicatedDispatchTest : public ::testing::TestWithParam<StorageBackend> {
 protected:
  void SetUp() override {
    auto storage = NewTestStorage(GetParam());
    ASSERT_TRUE(storage.ok()) << storage.status();
    for (int i = 0; i < 2; ++i) {
      auto db = storage->Open();
      ASSERT_TRUE(db.ok()) << db.status();
      outboxes_.push_back(
          std::make_unique<SqlNoticeOutbox>(*db, "replica-" + std::to_string(i)));
    }
  }
  NoticeDispatcher Make(int replica) {
    NoticeRetryPolicy policy{absl::Seconds(1), absl::Seconds(4)};
    policy.lease = absl::Seconds(30);
    return NoticeDispatcher(outboxes_[replica].get(), clock_, policy,
                            [this](const OutboundNotice& n) { return Deliver(n); });
  }
  absl::Status Deliver(const OutboundNotice& n) {
    absl::MutexLock lock(&mu_);
    ++delivered_[n.notice_id];
    return absl::OkStatus();
  }

  FakeClock clock_;
  std::vector<std::unique_ptr<SqlNoticeOutbox>> outboxes_;
  absl::Mutex mu_;
  std::map<std::string, int> delivered_ ABSL_GUARDED_BY(mu_);
};

TEST_P(ReplicatedDispatchTest, TwoReplicasDeliverEachNoticeOnce) {
  std::vector<OutboundNotice> notices;
  for (int i = 0; i < 80; ++i) {
    notices.push_back({"n-" + std::to_string(i), "ccf-" + std::to_string(i % 4),
                       kNoticeOffboarding, "x", clock_.Now()});
  }
  ASSERT_TRUE(outboxes_[0]->Enqueue(notices).ok());
  NoticeDispatcher a = Make(0), b = Make(1);
  int by_a = 0, by_b = 0;
  std::thread ta([&] {
    for (int pass = 0; pass < 20; ++pass) by_a += a.RunOnce().value_or(0);
  });
  std::thread tb([&] {
    for (int pass = 0; pass < 20; ++pass) by_b += b.RunOnce().value_or(0);
  });
  ta.join();
  tb.join();
  EXPECT_EQ(by_a + by_b, 80);
  absl::MutexLock lock(&mu_);
  EXPECT_EQ(delivered_.size(), 80u);
  for (const auto& [id, times] : delivered_) EXPECT_EQ(times, 1) << id;
  EXPECT_TRUE(outboxes_[1]->Pending()->empty());
}

TEST_P(ReplicatedDispatchTest, NoticesHeldByADeadReplicaAreDeliveredWhenItsLeaseEnds) {
  ASSERT_TRUE(outboxes_[0]->Enqueue({{"n-1", "ccf-b", kNoticeOffboarding, "x", clock_.Now()},
                                     {"n-2", "ccf-b", kNoticeRevocation, "y", clock_.Now()}})
                  .ok());
  // Replica 0 took both for a pass and died before any attempt ended (what SIGKILL leaves).
  ASSERT_EQ(outboxes_[0]->Claim(clock_.Now(), 10, clock_.Now() + absl::Seconds(30))->size(), 2u);
  NoticeDispatcher survivor = Make(1);
  EXPECT_EQ(*survivor.RunOnce(), 0);  // held: not delivered twice at once
  clock_.Advance(absl::Seconds(29));
  EXPECT_EQ(*survivor.RunOnce(), 0);
  clock_.Advance(absl::Seconds(1));
  EXPECT_EQ(*survivor.RunOnce(), 2);
  absl::MutexLock lock(&mu_);
  EXPECT_EQ(delivered_, (std::map<std::string, int>{{"n-1", 1}, {"n-2", 1}}));
}

TEST_P(ReplicatedDispatchTest, ARestartedReplicaDeliversWhatItHeldWithoutWaitingForTheLease) {
  ASSERT_TRUE(outboxes_[0]->Enqueue({{"n-1", "ccf-b", kNoticeOffboarding, "x", clock_.Now()}}).ok());
  // Replica 0 took the notice for a pass and was killed (SIGKILL) before the attempt ended.
  ASSERT_EQ(outboxes_[0]->Claim(clock_.Now(), 10, clock_.Now() + absl::Seconds(30))->size(), 1u);
  // Replica 1 must wait for the lease; replica 0's next process need not.
  NoticeDispatcher other = Make(1);
  EXPECT_EQ(*other.RunOnce(), 0);
  NoticeDispatcher restarted = Make(0);
  EXPECT_EQ(*restarted.RunOnce(), 1);
  absl::MutexLock lock(&mu_);
  EXPECT_EQ(delivered_, (std::map<std::string, int>{{"n-1", 1}}));
}

INSTANTIATE_TEST_SUITE_P(Backends, ReplicatedDispatchTest, ::testing::ValuesIn(kBackends),
                         BackendName);

}  // namespace
}  // namespace capif
