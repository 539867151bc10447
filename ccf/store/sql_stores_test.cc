#include <gtest/gtest.h>

#include <set>
#include <thread>

#include "ccf/store/sql_stores.h"
#include "ccf/store/testing/test_storage.h"

namespace capif {
namespace {

// Every test runs on both backends: SQLite and PostgreSQL.
class StoresTest : public ::testing::TestWithParam<StorageBackend> {
 protected:
  void SetUp() override {
    auto storage = NewTestStorage(GetParam());
    ASSERT_TRUE(storage.ok()) << storage.status();
    storage_ = *storage;
    auto db = storage_.Open();
    ASSERT_TRUE(db.ok()) << db.status();
    db_ = *db;
  }
  TestStorage storage_;
  std::shared_ptr<SqlDatabase> db_;
};

InvokerRecord Invoker(const std::string& id) {
  InvokerRecord r;
  r.id = ApiInvokerId(id);
  r.public_key_pem = "KEY";
  r.certificate_pem = "CERT";
  r.notification_destination = "https://inv.example/n";
  r.secret_salt = std::string("salt\0x", 6);
  r.secret_digest = "digest";
  r.created = absl::FromUnixSeconds(1700000000);
  return r;
}

TEST_P(StoresTest, InvokerLifecycle) {
  SqlInvokerStore store(db_);
  InvokerRecord r = Invoker("inv-1");
  r.request_test_notification = false;
  r.websocket_uri = "wss://inv.example/w";
  ASSERT_TRUE(store.Insert(r).ok());
  EXPECT_EQ(store.Insert(r).code(), absl::StatusCode::kAlreadyExists);
  auto got = store.Get(ApiInvokerId("inv-1"));
  ASSERT_TRUE(got.ok() && got->has_value());
  EXPECT_EQ((*got)->secret_salt, std::string("salt\0x", 6));
  EXPECT_EQ((*got)->created, absl::FromUnixSeconds(1700000000));
  EXPECT_EQ((*got)->public_key_pem, "KEY");
  EXPECT_EQ((*got)->notification_destination, "https://inv.example/n");
  EXPECT_EQ((*got)->request_test_notification, false);  // present and false, not absent
  EXPECT_EQ((*got)->websocket_uri, "wss://inv.example/w");
  EXPECT_FALSE((*got)->request_websocket_uri.has_value());
  EXPECT_FALSE((*got)->supported_features.has_value());
  r.supported_features = "0f";
  r.websocket_uri.reset();
  r.api_list = R"({"serviceAPIDescriptions":[]})";
  ASSERT_TRUE(store.Update(r).ok());
  got = store.Get(ApiInvokerId("inv-1"));
  EXPECT_EQ((*got)->supported_features, "0f");
  EXPECT_FALSE((*got)->websocket_uri.has_value());
  EXPECT_EQ((*got)->api_list, R"({"serviceAPIDescriptions":[]})");
  ASSERT_TRUE(store.Delete(ApiInvokerId("inv-1"), {}, 0).ok());
  EXPECT_FALSE(store.Get(ApiInvokerId("inv-1"))->has_value());
  EXPECT_EQ(store.Delete(ApiInvokerId("inv-1"), {}, 0).code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(store.Update(r).code(), absl::StatusCode::kNotFound);
}

TEST_P(StoresTest, EnrollmentTokensAreSingleUseAndExpire) {
  SqlEnrollmentTokenStore tokens(db_);
  absl::Time now = absl::FromUnixSeconds(1700000000);
  ASSERT_TRUE(tokens.Add("t1", EnrollmentPurpose::kInvoker, now + absl::Minutes(10)).ok());
  ASSERT_TRUE(tokens.Add("t2", EnrollmentPurpose::kInvoker, now + absl::Minutes(10)).ok());
  EXPECT_TRUE(tokens.Consume("t1", EnrollmentPurpose::kInvoker, now).ok());
  EXPECT_EQ(tokens.Consume("t1", EnrollmentPurpose::kInvoker, now).code(), absl::StatusCode::kUnauthenticated);
  EXPECT_EQ(tokens.Consume("t2", EnrollmentPurpose::kInvoker, now + absl::Minutes(10)).code(),
            absl::StatusCode::kUnauthenticated);
  EXPECT_EQ(tokens.Consume("t2", EnrollmentPurpose::kInvoker, now).code(), absl::StatusCode::kUnauthenticated);  // removed
  EXPECT_EQ(tokens.Consume("never", EnrollmentPurpose::kInvoker, now).code(), absl::StatusCode::kUnauthenticated);
  // A token is good only for its purpose.
  ASSERT_TRUE(tokens.Add("t3", EnrollmentPurpose::kProvider, now + absl::Minutes(10)).ok());
  EXPECT_FALSE(tokens.Consume("t3", EnrollmentPurpose::kInvoker, now).ok());
  EXPECT_TRUE(tokens.Consume("t3", EnrollmentPurpose::kProvider, now).ok());
}

TEST_P(StoresTest, EnrollmentTokenIsGoodOnlyForItsPurpose) {
  SqlEnrollmentTokenStore tokens(db_);
  absl::Time now = absl::FromUnixSeconds(1700000000);
  ASSERT_TRUE(tokens.Add("t3", EnrollmentPurpose::kProvider, now + absl::Minutes(10)).ok());
  EXPECT_FALSE(tokens.Consume("t3", EnrollmentPurpose::kInvoker, now).ok());
  EXPECT_TRUE(tokens.Consume("t3", EnrollmentPurpose::kProvider, now).ok());
}

TEST_P(StoresTest, DataSurvivesReopening) {
  {
    SqlInvokerStore store(db_);
    ASSERT_TRUE(store.Insert(Invoker("inv-9")).ok());
  }
  db_.reset();
  auto db = storage_.Open();
  ASSERT_TRUE(db.ok());
  EXPECT_TRUE(SqlInvokerStore(*db).Get(ApiInvokerId("inv-9"))->has_value());
}

TEST_P(StoresTest, OutboxKeepsNoticesUntilDelivered) {
  SqlNoticeOutbox outbox(db_);
  absl::Time t0 = absl::FromUnixSeconds(1700000000);
  ASSERT_TRUE(outbox.Enqueue({{"n-1", "ccf-b", kNoticeOffboarding, std::string("p\0q", 3), t0},
                              {"n-2", "ccf-c", kNoticeRevocation, "r", t0 + absl::Seconds(1)}})
                  .ok());
  // Enqueueing an id again changes nothing.
  ASSERT_TRUE(outbox.Enqueue({{"n-1", "ccf-x", kNoticeRevocation, "other", t0}}).ok());
  auto due = outbox.Claim(t0, 10, t0);
  ASSERT_TRUE(due.ok()) << due.status();
  ASSERT_EQ(due->size(), 1u);  // n-2 is due only from t0 + 1 s
  EXPECT_EQ((*due)[0].destination, "ccf-b");
  EXPECT_EQ((*due)[0].payload, std::string("p\0q", 3));
  ASSERT_TRUE(outbox.Failed("n-1", t0 + absl::Seconds(5), "peer down").ok());
  due = outbox.Claim(t0 + absl::Seconds(2), 10, t0 + absl::Seconds(2));
  ASSERT_EQ(due->size(), 1u);
  EXPECT_EQ((*due)[0].notice_id, "n-2");
  auto pending = outbox.Pending();
  ASSERT_EQ(pending->size(), 2u);
  EXPECT_EQ((*pending)[0].attempts, 1);
  EXPECT_EQ((*pending)[0].last_error, "peer down");
  EXPECT_EQ((*pending)[0].next_attempt, t0 + absl::Seconds(5));
  ASSERT_TRUE(outbox.Delivered("n-2").ok());
  ASSERT_TRUE(outbox.Delivered("n-2").ok());
  EXPECT_EQ(outbox.Pending()->size(), 1u);
}

TEST_P(StoresTest, AClaimedNoticeIsTakenByOneClaimerUntilItsLeaseEnds) {
  SqlNoticeOutbox outbox(db_);
  absl::Time t0 = absl::FromUnixSeconds(1700000000);
  ASSERT_TRUE(outbox.Enqueue({{"n-1", "ccf-b", kNoticeOffboarding, "p", t0},
                              {"n-2", "ccf-b", kNoticeOffboarding, "q", t0}})
                  .ok());
  auto first = outbox.Claim(t0, 1, t0 + absl::Seconds(30));
  ASSERT_TRUE(first.ok()) << first.status();
  ASSERT_EQ(first->size(), 1u);
  EXPECT_EQ((*first)[0].notice_id, "n-1");
  // Another claimer (another replica) gets only the unclaimed one, then nothing.
  auto second = outbox.Claim(t0 + absl::Seconds(1), 10, t0 + absl::Seconds(31));
  ASSERT_EQ(second->size(), 1u);
  EXPECT_EQ((*second)[0].notice_id, "n-2");
  EXPECT_TRUE(outbox.Claim(t0 + absl::Seconds(2), 10, t0 + absl::Seconds(32))->empty());
  // Given back: due again at once. A claimer that died: due again when the lease ends.
  ASSERT_TRUE(outbox.Release("n-2").ok());
  auto released = outbox.Claim(t0 + absl::Seconds(3), 10, t0 + absl::Seconds(33));
  ASSERT_EQ(released->size(), 1u);
  EXPECT_EQ((*released)[0].notice_id, "n-2");
  EXPECT_TRUE(outbox.Claim(t0 + absl::Seconds(29), 10, t0 + absl::Seconds(59))->empty());
  auto expired = outbox.Claim(t0 + absl::Seconds(30), 10, t0 + absl::Seconds(60));
  ASSERT_EQ(expired->size(), 1u);
  EXPECT_EQ((*expired)[0].notice_id, "n-1");
  // A failed attempt ends the claim; the notice is due at its next attempt.
  ASSERT_TRUE(outbox.Failed("n-1", t0 + absl::Seconds(50), "down").ok());
  ASSERT_TRUE(outbox.Delivered("n-2").ok());
  EXPECT_TRUE(outbox.Claim(t0 + absl::Seconds(49), 10, t0 + absl::Seconds(79))->empty());
  auto after_failure = outbox.Claim(t0 + absl::Seconds(50), 10, t0 + absl::Seconds(80));
  ASSERT_EQ(after_failure->size(), 1u);
  EXPECT_EQ((*after_failure)[0].notice_id, "n-1");
}

TEST_P(StoresTest, AReplicaTakesBackOnlyItsOwnClaims) {
  absl::Time t0 = absl::FromUnixSeconds(1700000000);
  SqlNoticeOutbox r1(db_, "replica-1"), r2(db_, "replica-2");
  ASSERT_TRUE(r1.Enqueue({{"n-1", "ccf-b", kNoticeOffboarding, "p", t0},
                          {"n-2", "ccf-b", kNoticeOffboarding, "q", t0}})
                  .ok());
  ASSERT_EQ(r1.Claim(t0, 1, t0 + absl::Seconds(30))->size(), 1u);  // n-1, then killed
  ASSERT_EQ(r2.Claim(t0, 1, t0 + absl::Seconds(30))->size(), 1u);  // n-2, still at it
  // Replica 1 restarts (a new process, the same id): it takes back n-1, not replica 2's n-2.
  SqlNoticeOutbox restarted(db_, "replica-1");
  ASSERT_TRUE(restarted.ReleaseOwnClaims().ok());
  auto again = restarted.Claim(t0 + absl::Seconds(1), 10, t0 + absl::Seconds(31));
  ASSERT_TRUE(again.ok()) << again.status();
  ASSERT_EQ(again->size(), 1u);
  EXPECT_EQ((*again)[0].notice_id, "n-1");
}

TEST_P(StoresTest, ConcurrentClaimersOnTwoConnectionsTakeEachNoticeOnce) {
  // Two outboxes, each on a database connection of its own (on PostgreSQL: two replicas' pools).
  auto other_db = storage_.Open();
  ASSERT_TRUE(other_db.ok()) << other_db.status();
  SqlNoticeOutbox a(db_), b(*other_db);
  absl::Time t0 = absl::FromUnixSeconds(1700000000);
  std::vector<OutboundNotice> notices;
  for (int i = 0; i < 60; ++i) {
    notices.push_back({"n-" + std::to_string(i), "ccf-b", kNoticeOffboarding, "p", t0});
  }
  ASSERT_TRUE(a.Enqueue(notices).ok());
  std::vector<std::string> got_a, got_b;
  auto drain = [&](SqlNoticeOutbox* outbox, std::vector<std::string>* got) {
    for (int round = 0; round < 100; ++round) {
      auto claimed = outbox->Claim(t0, 4, t0 + absl::Hours(1));
      ASSERT_TRUE(claimed.ok()) << claimed.status();
      for (const OutboundNotice& n : *claimed) got->push_back(n.notice_id);
    }
  };
  std::thread ta(drain, &a, &got_a);
  std::thread tb(drain, &b, &got_b);
  ta.join();
  tb.join();
  std::set<std::string> all(got_a.begin(), got_a.end());
  for (const std::string& id : got_b) {
    EXPECT_TRUE(all.insert(id).second) << id << " was claimed twice";
  }
  EXPECT_EQ(all.size(), 60u);
}

TEST_P(StoresTest, DeletingEnqueuesItsNoticesInTheSameTransaction) {
  SqlInvokerStore invokers(db_);
  SqlNoticeOutbox outbox(db_);
  absl::Time t0 = absl::FromUnixSeconds(1700000000);
  OutboundNotice n{"n-1", "ccf-b", kNoticeOffboarding, "x", t0};
  // Nothing to delete: nothing enqueued.
  EXPECT_EQ(invokers.Delete(ApiInvokerId("inv-1"), {n}, 0).code(), absl::StatusCode::kNotFound);
  EXPECT_TRUE(outbox.Pending()->empty());
  ASSERT_TRUE(invokers.Insert(Invoker("inv-1")).ok());
  ASSERT_TRUE(invokers.Delete(ApiInvokerId("inv-1"), {n}, 0).ok());
  EXPECT_FALSE(invokers.Get(ApiInvokerId("inv-1"))->has_value());
  ASSERT_EQ(outbox.Pending()->size(), 1u);
  // Survives reopening the database.
  db_.reset();
  auto db = storage_.Open();
  ASSERT_TRUE(db.ok()) << db.status();
  EXPECT_EQ(SqlNoticeOutbox(*db).Pending()->size(), 1u);
}

TEST_P(StoresTest, PeerBundlesRoundTrip) {
  SqlPeerBundleStore store(db_);
  PeerBundleStatus s;
  s.last_good = HeldBundle{9, {"ROOT1", "ROOT2"}, R"({"keys":[]})", 600,
                           absl::FromUnixMillis(1700000000123)};
  s.last_attempt = absl::FromUnixMillis(1700000001000);
  s.last_error = "deadline exceeded";
  s.failures = 2;
  s.next_refresh = absl::FromUnixMillis(1700000011000);
  ASSERT_TRUE(store.Save("ccf-b", s).ok());
  ASSERT_TRUE(store.Save("ccf-c", PeerBundleStatus{}).ok());
  s.failures = 3;
  ASSERT_TRUE(store.Save("ccf-b", s).ok());  // replaces
  auto all = store.LoadAll();
  ASSERT_TRUE(all.ok()) << all.status();
  ASSERT_EQ(all->size(), 2u);
  const PeerBundleStatus& b = (*all)["ccf-b"];
  ASSERT_TRUE(b.last_good.has_value());
  EXPECT_EQ(b.last_good->sequence, 9u);
  EXPECT_EQ(b.last_good->root_ca_pems, (std::vector<std::string>{"ROOT1", "ROOT2"}));
  EXPECT_EQ(b.last_good->fetched_at, absl::FromUnixMillis(1700000000123));
  EXPECT_EQ(b.failures, 3);
  EXPECT_EQ(b.last_error, "deadline exceeded");
  EXPECT_EQ(b.next_refresh, absl::FromUnixMillis(1700000011000));
  EXPECT_FALSE((*all)["ccf-c"].last_good.has_value());
  EXPECT_EQ((*all)["ccf-c"].last_attempt, absl::InfinitePast());
}

INSTANTIATE_TEST_SUITE_P(Backends, StoresTest, ::testing::ValuesIn(kBackends), BackendName);

}  // namespace
}  // namespace capif
