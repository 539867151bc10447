// The typed repositories on a real SQLite file and a real PostgreSQL server: every query the flows make, and the
// compare-and-swap rule with two writers racing.
#include <atomic>
#include <set>
#include <thread>

#include "absl/strings/escaping.h"
#include "ccf/store/event_subscriptions.h"
#include "ccf/store/legacy_resources.h"
#include "ccf/store/provider_registry.h"
#include "ccf/store/remote_grants.h"
#include "ccf/store/security_contexts.h"
#include "ccf/store/service_apis.h"
#include "ccf/store/sql_stores.h"
#include "ccf/store/testing/test_storage.h"
#include "ccf/store/used_assertions.h"
#include "common/fake_clock.h"
#include "gtest/gtest.h"

namespace capif {
namespace {

KeyEncryptionKey TestKek() {
  return KeyEncryptionKey::FromBytes(SecretBytes::Random(KeyEncryptionKey::kKeySize));
}

SecurityEntry Entry(const std::string& aef, std::vector<std::string> apis, const std::string& method,
                    absl::Time at) {
  SecurityEntry e;
  e.aef_id = aef;
  e.api_ids = std::move(apis);
  e.pref_methods = {method};
  e.selected_method = method;
  e.authorized_at = at;
  if (method == "PSK") {
    e.aef_psk = SecretBytes::Random(32);
    e.psk_expires = at + absl::Hours(1);
  }
  return e;
}

StoredSecurityContext Context(const std::string& invoker,
                              std::vector<SecurityEntry> entries) {
  StoredSecurityContext c;
  c.api_invoker_id = invoker;
  c.notification_destination = "https://inv.example/n";
  c.created = absl::FromUnixMicros(1'700'000'000'123'456);
  c.entries = std::move(entries);
  return c;
}

// Every test runs on both backends: SQLite and PostgreSQL.
class RepositoriesTest : public ::testing::TestWithParam<StorageBackend> {
 protected:
  void SetUp() override {
    auto storage = NewTestStorage(GetParam());
    ASSERT_TRUE(storage.ok()) << storage.status();
    storage_ = *storage;
    auto db = storage_.Open();
    ASSERT_TRUE(db.ok()) << db.status();
    db_ = *db;
    auto contexts = SqlSecurityContexts::Create(db_, kek_);
    ASSERT_TRUE(contexts.ok()) << contexts.status();
    contexts_ = *std::move(contexts);
  }

  TestStorage storage_;
  std::shared_ptr<SqlDatabase> db_;
  KeyEncryptionKey kek_ = TestKek();
  std::unique_ptr<SqlSecurityContexts> contexts_;
  const absl::Time t0_ = absl::FromUnixMicros(1'700'000'000'000'001);
};

TEST_P(RepositoriesTest, ContextRoundTripKeepsEveryFieldAndMicroseconds) {
  SecurityEntry psk = Entry("aef-1", {"api-1", "api-2"}, "PSK", t0_);
  psk.interface_details = InterfaceAddress{"127.0.0.1", std::nullopt, std::nullopt, 8443, "/x"};
  psk.api_id = "api-1";
  SecurityEntry remote = Entry("aef-9", {"api-9"}, "OAUTH", t0_ + absl::Microseconds(1));
  remote.remote_ccf_id = "ccf-a";
  remote.remote_api_name = "loc";
  StoredSecurityContext c = Context("inv-1", {psk, remote});
  c.supported_features = "0";
  c.request_test_notification = true;
  c.websocket_uri = "wss://x";
  ASSERT_EQ(*contexts_->Write(c, 0, {}), 1);
  auto got = contexts_->Get("inv-1");
  ASSERT_TRUE(got.ok() && got->has_value()) << got.status();
  const StoredSecurityContext& g = **got;
  EXPECT_EQ(g.version, 1);
  EXPECT_EQ(g.created, c.created);
  EXPECT_EQ(g.supported_features, "0");
  EXPECT_EQ(g.request_test_notification, true);
  EXPECT_EQ(g.websocket_uri, "wss://x");
  EXPECT_FALSE(g.request_websocket_uri.has_value());
  ASSERT_EQ(g.entries.size(), 2u);
  EXPECT_EQ(g.entries[0].api_ids, (std::vector<std::string>{"api-1", "api-2"}));
  EXPECT_EQ(g.entries[0].interface_details, psk.interface_details);
  EXPECT_EQ(g.entries[0].api_id, "api-1");
  EXPECT_TRUE(g.entries[0].aef_psk.Equals(psk.aef_psk));
  EXPECT_EQ(g.entries[0].psk_expires, psk.psk_expires);
  EXPECT_EQ(g.entries[0].authorized_at, t0_);
  EXPECT_EQ(g.entries[1].authorized_at, t0_ + absl::Microseconds(1));
  EXPECT_EQ(g.entries[1].remote_ccf_id, "ccf-a");
  EXPECT_EQ(g.entries[1].remote_api_name, "loc");
  EXPECT_FALSE(contexts_->Get("inv-2")->has_value());
}

TEST_P(RepositoriesTest, AefPskIsSealedInTheDatabaseAndNeedsTheSameKey) {
  SecurityEntry psk = Entry("aef-1", {"api-1"}, "PSK", t0_);
  ASSERT_TRUE(contexts_->Write(Context("inv-1", {psk}), 0, {}).ok());
  auto rows = db_->Query("SELECT psk_sealed FROM security_entries");
  ASSERT_TRUE(rows.ok());
  ASSERT_EQ(rows->size(), 1u);
  std::string sealed = SqlBytes((*rows)[0][0]);
  EXPECT_EQ(sealed.find(std::string(psk.aef_psk.Reveal(InsecureSecretAccess()))),
            std::string::npos);
  auto other = *SqlSecurityContexts::Create(db_, TestKek());
  EXPECT_EQ(other->Get("inv-1").status().code(), absl::StatusCode::kDataLoss);
}

TEST_P(RepositoriesTest, WriteAndDeleteAreCompareAndSwapOnTheVersion) {
  ASSERT_TRUE(contexts_->Write(Context("inv-1", {Entry("aef-1", {"a"}, "PKI", t0_)}), 0, {}).ok());
  // Creating again as if absent loses: it exists.
  EXPECT_EQ(contexts_->Write(Context("inv-1", {}), 0, {}).status().code(),
            absl::StatusCode::kAborted);
  auto v2 = contexts_->Write(Context("inv-1", {Entry("aef-2", {"b"}, "PKI", t0_)}), 1, {});
  ASSERT_TRUE(v2.ok());
  EXPECT_EQ(*v2, 2);
  // A writer that read version 1 lost the race: nothing of its write is kept.
  EXPECT_EQ(contexts_->Write(Context("inv-1", {}), 1, {}).status().code(),
            absl::StatusCode::kAborted);
  EXPECT_EQ(contexts_->Delete("inv-1", 1, {}).code(), absl::StatusCode::kAborted);
  EXPECT_EQ((*contexts_->Get("inv-1"))->entries[0].aef_id, "aef-2");
  EXPECT_TRUE(contexts_->Delete("inv-1", 2, {}).ok());
  EXPECT_EQ(contexts_->Delete("inv-1", 2, {}).code(), absl::StatusCode::kNotFound);
}

TEST_P(RepositoriesTest, TwoWritersRacingOnOneVersionExactlyOneWins) {
  ASSERT_TRUE(contexts_->Write(Context("inv-1", {}), 0, {}).ok());
  for (int round = 0; round < 20; ++round) {
    int64_t version = (*contexts_->Get("inv-1"))->version;
    std::atomic<int> won{0}, lost{0};
    auto writer = [&](const std::string& aef) {
      auto r = contexts_->Write(Context("inv-1", {Entry(aef, {"a"}, "PSK", t0_)}), version, {});
      (r.ok() ? won : lost)++;
      if (!r.ok()) {
        EXPECT_EQ(r.status().code(), absl::StatusCode::kAborted);
      }
    };
    std::thread a(writer, "aef-a"), b(writer, "aef-b");
    a.join();
    b.join();
    EXPECT_EQ(won.load(), 1);
    EXPECT_EQ(lost.load(), 1);
    EXPECT_EQ((*contexts_->Get("inv-1"))->version, version + 1);
  }
}

TEST_P(RepositoriesTest, EntriesByAefAndByApi) {
  ASSERT_TRUE(contexts_
                  ->Write(Context("inv-1", {Entry("aef-1", {"a", "b"}, "PKI", t0_),
                                            Entry("aef-2", {"c"}, "OAUTH", t0_)}),
                          0, {})
                  .ok());
  ASSERT_TRUE(contexts_->Write(Context("inv-2", {Entry("aef-1", {"b"}, "PSK", t0_)}), 0, {}).ok());
  auto by_aef = contexts_->EntriesOfAef("aef-1");
  ASSERT_TRUE(by_aef.ok()) << by_aef.status();
  ASSERT_EQ(by_aef->size(), 2u);
  EXPECT_EQ((*by_aef)[0].api_invoker_id, "inv-1");
  EXPECT_EQ((*by_aef)[1].api_invoker_id, "inv-2");
  EXPECT_TRUE((*by_aef)[1].entry.aef_psk.size() == 32);
  auto by_api = contexts_->EntriesOfApi("b");
  ASSERT_TRUE(by_api.ok()) << by_api.status();
  ASSERT_EQ(by_api->size(), 2u);
  EXPECT_EQ((*by_api)[0].entry.api_ids, (std::vector<std::string>{"a", "b"}));
  EXPECT_EQ(contexts_->EntriesOfApi("c")->size(), 1u);
  EXPECT_TRUE(contexts_->EntriesOfApi("zzz")->empty());
}

TEST_P(RepositoriesTest, NoticesAreEnqueuedWithTheWriteOrNotAtAll) {
  SqlNoticeOutbox outbox(db_);
  OutboundNotice n{"n-1", "aef-1", kNoticeAefRevoke, "{}", t0_};
  ASSERT_TRUE(contexts_->Write(Context("inv-1", {}), 0, {n}).ok());
  EXPECT_EQ(outbox.Pending()->size(), 1u);
  OutboundNotice m{"n-2", "aef-1", kNoticeAefRevoke, "{}", t0_};
  EXPECT_FALSE(contexts_->Write(Context("inv-1", {}), 7, {m}).ok());
  EXPECT_FALSE(contexts_->Delete("inv-1", 7, {m}).ok());
  EXPECT_EQ(outbox.Pending()->size(), 1u);
  ASSERT_TRUE(contexts_->Delete("inv-1", 1, {m}).ok());
  EXPECT_EQ(outbox.Pending()->size(), 2u);
}

TEST_P(RepositoriesTest, OffboardingAnInvokerTakesItsContextAndChecksItsVersion) {
  SqlInvokerStore invokers(db_);
  InvokerRecord invoker;
  invoker.id = ApiInvokerId("inv-1");
  invoker.certificate_pem = "pem";
  invoker.created = t0_;
  ASSERT_TRUE(invokers.Insert(invoker).ok());
  ASSERT_TRUE(contexts_->Write(Context("inv-1", {Entry("aef-1", {"a"}, "PSK", t0_)}), 0, {}).ok());
  // The notices were computed from version 0 (no context): stale, refused.
  EXPECT_EQ(invokers.Delete(ApiInvokerId("inv-1"), {}, 0).code(), absl::StatusCode::kAborted);
  ASSERT_TRUE(invokers.Delete(ApiInvokerId("inv-1"), {}, 1).ok());
  EXPECT_FALSE(contexts_->Get("inv-1")->has_value());
  EXPECT_TRUE(contexts_->EntriesOfAef("aef-1")->empty());
}

TEST_P(RepositoriesTest, GrantsByInvokerByAefLeasesAndTombstones) {
  SqlRemoteGrants grants(db_);
  RemoteGrant g1{"ccf-b", "inv-1", "aef-1", "api-1", "PSK", t0_, t0_ + absl::Seconds(60)};
  RemoteGrant g2{"ccf-b", "inv-1", "aef-2", "api-2", "OAUTH", t0_, std::nullopt};
  RemoteGrant g3{"ccf-c", "inv-3", "aef-1", "api-1", "PKI", t0_, t0_ + absl::Seconds(60)};
  for (const RemoteGrant& g : {g1, g2, g3}) ASSERT_TRUE(grants.Put(g).ok());
  EXPECT_EQ(grants.OfInvoker("inv-1")->size(), 2u);
  auto by_aef = grants.OfAef("aef-1");
  ASSERT_EQ(by_aef->size(), 2u);
  EXPECT_EQ((*by_aef)[0].api_invoker_id, "inv-1");
  EXPECT_EQ((*by_aef)[0].granted_at, t0_);
  ASSERT_TRUE((*by_aef)[0].lease_until.has_value());
  EXPECT_TRUE((*by_aef)[0].StandsAt(t0_ + absl::Seconds(60)));
  EXPECT_FALSE((*by_aef)[0].StandsAt(t0_ + absl::Seconds(61)));
  // Only the home CCF of the grant confirms it.
  EXPECT_EQ(*grants.Confirm("ccf-c", "inv-1", {{"aef-1", ""}}), 0);
  EXPECT_EQ(*grants.Confirm("ccf-b", "inv-1", {{"aef-1", "api-1"}}), 1);
  auto removed = grants.RemoveUnconfirmed(t0_ + absl::Seconds(61));
  ASSERT_TRUE(removed.ok());
  ASSERT_EQ(removed->size(), 1u);
  EXPECT_EQ((*removed)[0].api_invoker_id, "inv-3");
  EXPECT_EQ(grants.OfInvoker("inv-1")->size(), 2u);
  EXPECT_TRUE(grants.OfInvoker("inv-3")->empty());
  // Granting again replaces (new time, new lease).
  g2.granted_at = t0_ + absl::Microseconds(5);
  ASSERT_TRUE(grants.Put(g2).ok());
  EXPECT_EQ(grants.OfAef("aef-2")->at(0).granted_at, g2.granted_at);
  // Offboarding: grants, tombstone and notices together.
  SqlNoticeOutbox outbox(db_);
  ASSERT_TRUE(grants
                  .Remove(*grants.OfInvoker("inv-1"),
                          OffboardedInvoker{"ccf-b", "inv-1", "n-1", 1700000000, t0_},
                          {{"n-1/aef-1", "aef-1", kNoticeAefRevoke, "{}", t0_}})
                  .ok());
  EXPECT_TRUE(grants.OfInvoker("inv-1")->empty());
  EXPECT_TRUE(*grants.IsOffboarded("ccf-b", "inv-1"));
  EXPECT_FALSE(*grants.IsOffboarded("ccf-c", "inv-1"));
  EXPECT_EQ(outbox.Pending()->size(), 1u);
  // A repeated notice changes nothing.
  EXPECT_TRUE(grants.Remove({}, OffboardedInvoker{"ccf-b", "inv-1", "n-1", 1, t0_}, {}).ok());
  // A grant for the offboarded invoker (a request that raced the notice) is refused.
  RemoteGrant late{"ccf-b", "inv-1", "aef-1", "api-1", "PSK", t0_, std::nullopt};
  EXPECT_EQ(grants.Put(late).code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_TRUE(grants.OfInvoker("inv-1")->empty());
  late.home_ccf_id = "ccf-c";  // another home's invoker of that id is not affected
  EXPECT_TRUE(grants.Put(late).ok());
}

TEST_P(RepositoriesTest, AllGrantsAreListedInOrderAndCanBeRemovedTogether) {
  SqlRemoteGrants grants(db_);
  EXPECT_TRUE(grants.All()->empty());
  RemoteGrant g1{"ccf-c", "inv-3", "aef-1", "api-1", "PKI", t0_, t0_ + absl::Seconds(60)};
  RemoteGrant g2{"ccf-b", "inv-1", "aef-2", "api-2", "OAUTH", t0_, std::nullopt};
  RemoteGrant g3{"ccf-b", "inv-1", "aef-1", "api-1", "PSK", t0_, std::nullopt};
  for (const RemoteGrant& g : {g1, g2, g3}) ASSERT_TRUE(grants.Put(g).ok());
  auto all = grants.All();
  ASSERT_TRUE(all.ok()) << all.status();
  ASSERT_EQ(all->size(), 3u);
  EXPECT_EQ((*all)[0].api_invoker_id, "inv-1");
  EXPECT_EQ((*all)[0].aef_id, "aef-1");
  EXPECT_EQ((*all)[1].aef_id, "aef-2");
  EXPECT_EQ((*all)[2].api_invoker_id, "inv-3");
  // Leases and confirmation come back as stored.
  EXPECT_FALSE((*all)[0].lease_until.has_value());
  ASSERT_TRUE((*all)[2].lease_until.has_value());
  EXPECT_EQ(*(*all)[2].lease_until, t0_ + absl::Seconds(60));
  // Removed without a tombstone or notice (what DropGrants does): nothing else changes.
  SqlNoticeOutbox outbox(db_);
  ASSERT_TRUE(grants.Remove(*all, std::nullopt, {}).ok());
  EXPECT_TRUE(grants.All()->empty());
  EXPECT_FALSE(*grants.IsOffboarded("ccf-b", "inv-1"));
  EXPECT_TRUE(outbox.Pending()->empty());
}

TEST_P(RepositoriesTest, UsedAssertionsAreRefusedUntilTheyExpireAndSurviveReopening) {
  {
    SqlUsedAssertions used(db_);
    ASSERT_TRUE(used.Remember("ccf-b/inv/j1", t0_ + absl::Minutes(5), t0_).ok());
    EXPECT_EQ(used.Remember("ccf-b/inv/j1", t0_ + absl::Minutes(5), t0_).code(),
              absl::StatusCode::kAlreadyExists);
    EXPECT_TRUE(used.Remember("ccf-b/inv/j2", t0_ + absl::Minutes(5), t0_).ok());
  }
  SqlUsedAssertions reopened(db_);
  EXPECT_EQ(reopened.Remember("ccf-b/inv/j1", t0_ + absl::Minutes(5), t0_ + absl::Minutes(4))
                .code(),
            absl::StatusCode::kAlreadyExists);
  // Past its expiry the id is forgotten (swept), and may be seen again.
  EXPECT_TRUE(reopened.Remember("ccf-b/inv/j1", t0_ + absl::Minutes(20), t0_ + absl::Minutes(6))
                  .ok());
  auto rows = db_->Query("SELECT COUNT(*) FROM used_assertions");
  EXPECT_EQ(SqlInt((*rows)[0][0]), 1);  // j2 was swept
}

// Replicas: a client assertion's id used at two replicas at once (each its own database handle
// and group commit) is accepted by exactly one of them.
TEST_P(RepositoriesTest, AnAssertionIdReplayedAtAnotherReplicaIsRefused) {
  auto other_db = storage_.Open();
  ASSERT_TRUE(other_db.ok()) << other_db.status();
  SqlUsedAssertions replica1(db_), replica2(*other_db);
  std::atomic<int> ok{0}, replays{0}, other{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      SqlUsedAssertions& at = t % 2 == 0 ? replica1 : replica2;
      for (int i = 0; i < 25; ++i) {
        // Threads t and t^1 (one per replica) offer the same 50 ids.
        absl::Status s = at.Remember(absl::StrCat("ccf-b/inv/r", t / 2, "-", i),
                                     t0_ + absl::Minutes(5), t0_);
        if (s.ok()) {
          ++ok;
        } else if (absl::IsAlreadyExists(s)) {
          ++replays;
        } else {
          ++other;
          ADD_FAILURE() << s;
        }
      }
    });
  }
  for (std::thread& t : threads) t.join();
  EXPECT_EQ(ok, 50);
  EXPECT_EQ(replays, 50);
  EXPECT_EQ(other, 0);
  // And later: the id is refused at the replica that did not see it first.
  EXPECT_TRUE(replica1.Remember("ccf-b/inv/late", t0_ + absl::Minutes(5), t0_).ok());
  EXPECT_EQ(replica2.Remember("ccf-b/inv/late", t0_ + absl::Minutes(5), t0_).code(),
            absl::StatusCode::kAlreadyExists);
}

// Group commit: concurrent callers share transactions, each gets its own answer, and of two
// uses of one id exactly one succeeds.
TEST_P(RepositoriesTest, ConcurrentAssertionIdsAreEachRememberedOnce) {
  SqlUsedAssertions used(db_);
  std::atomic<int> ok{0}, replays{0}, other{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 25; ++i) {
        // Threads t and t^1 use the same ids: 100 distinct ids, each tried twice.
        absl::Status s = used.Remember(absl::StrCat("ccf-b/inv/j", t / 2, "-", i),
                                       t0_ + absl::Minutes(5), t0_);
        if (s.ok()) {
          ++ok;
        } else if (absl::IsAlreadyExists(s)) {
          ++replays;
        } else {
          ++other;
        }
      }
    });
  }
  for (std::thread& t : threads) t.join();
  EXPECT_EQ(ok, 100);
  EXPECT_EQ(replays, 100);
  EXPECT_EQ(other, 0);
  auto rows = db_->Query("SELECT COUNT(*) FROM used_assertions");
  EXPECT_EQ(SqlInt((*rows)[0][0]), 100);
}

// A document as ccfd up to schema version 8 kept them.
absl::Status InsertDocument(SqlDatabase& db, const std::string& kind, const std::string& id,
                            const std::string& owner, const std::string& json) {
  return db.Execute("INSERT INTO resources(kind, id, owner, json) VALUES (?, ?, ?, ?)",
                    {kind, id, owner, json});
}

size_t Documents(SqlDatabase& db, const std::string& kind) {
  return db.Query("SELECT id FROM resources WHERE kind = ?", {kind})->size();
}

TEST_P(RepositoriesTest, LegacyDocumentsAreConvertedAndSealed) {
  if (GetParam() == StorageBackend::kPostgres) {
    GTEST_SKIP() << "JSON documents of schema version 8 and older exist only in SQLite files";
  }
  std::string ctx =
      R"({"notificationDestination":"https://n","_since":1700000000,"securityInfo":[)"
      R"({"aefId":"aef-1","prefSecurityMethods":["PSK"],"selSecurityMethod":"PSK",)"
      R"("authorizationInfo":"a,b","_aefPsk":"00112233","_aefPskExpires":1700003600},)"
      R"({"aefId":"aef-9","apiId":"z","prefSecurityMethods":["OAUTH"],"selSecurityMethod":"OAUTH",)"
      R"("authorizationInfo":"z","_aefCcfId":"ccf-a","_apiName":"loc"}]})";
  ASSERT_TRUE(InsertDocument(*db_, "security-context", "inv-1", "inv-1", ctx).ok());
  ASSERT_TRUE(InsertDocument(*db_, "remote-grant", "inv-b@aef-1@a", "inv-b",
                             R"({"homeCcfId":"ccf-b","apiInvokerId":"inv-b","aefId":"aef-1",)"
                             R"("apiId":"a","selSecurityMethod":"OAUTH","grantedAt":1700000000})")
                  .ok());
  ASSERT_TRUE(InsertDocument(*db_, "offboarded-invoker", "ccf-b/inv-x", "",
                             R"({"homeCcfId":"ccf-b","apiInvokerId":"inv-x","noticeId":"n",)"
                             R"("occurredAt":1,"receivedAt":2})")
                  .ok());
  ASSERT_TRUE(InsertDocument(*db_, "service-api", "api-1", "apf", "{}").ok());
  auto n = MigrateLegacyResources(db_, kek_);
  ASSERT_TRUE(n.ok()) << n.status();
  EXPECT_EQ(*n, 3);
  EXPECT_EQ(*MigrateLegacyResources(db_, kek_), 0);
  auto c = contexts_->Get("inv-1");
  ASSERT_TRUE(c.ok() && c->has_value()) << c.status();
  ASSERT_EQ((*c)->entries.size(), 2u);
  EXPECT_EQ((*c)->entries[0].api_ids, (std::vector<std::string>{"a", "b"}));
  EXPECT_EQ((*c)->entries[0].aef_psk.Reveal(InsecureSecretAccess()),
            absl::HexStringToBytes("00112233"));
  EXPECT_EQ((*c)->entries[0].authorized_at, absl::FromUnixSeconds(1700000000));
  EXPECT_EQ((*c)->entries[1].remote_ccf_id, "ccf-a");
  SqlRemoteGrants grants(db_);
  ASSERT_EQ(grants.OfInvoker("inv-b")->size(), 1u);
  EXPECT_FALSE(grants.OfInvoker("inv-b")->at(0).lease_until.has_value());
  EXPECT_TRUE(*grants.IsOffboarded("ccf-b", "inv-x"));
  EXPECT_EQ(Documents(*db_, "security-context"), 0u);
  EXPECT_EQ(Documents(*db_, "service-api"), 1u);  // not its kind
}


ProviderFunction Function(const std::string& id, const std::string& dom, ProviderRole role) {
  return {id, dom, role, std::nullopt, "KEY-" + id, "CERT-" + id};
}

ProviderDomain Domain(const std::string& id, std::vector<ProviderFunction> functions) {
  return {id, "operator " + id, std::nullopt, std::move(functions)};
}

ServiceApiRecord Api(const std::string& id, const std::string& apf, const std::string& name,
                     std::vector<ServiceApiAef> aefs) {
  ServiceApiRecord r;
  r.api_id = id;
  r.apf_id = apf;
  r.api_name = name;
  r.aefs = std::move(aefs);
  r.description = R"({"apiId":")" + id + R"("})";
  return r;
}

InterfaceAddress Address(const std::string& ipv4, int64_t port) {
  return {ipv4, std::nullopt, std::nullopt, port, std::nullopt};
}

TEST_P(RepositoriesTest, ProviderDomainsChangeWithTheirFunctionsAtOnce) {
  SqlProviderRegistry registry(db_);
  SqlServiceApis apis(db_);
  ASSERT_TRUE(registry
                  .Insert(Domain("dom-1", {Function("amf-1", "dom-1", ProviderRole::kAmf),
                                           Function("apf-1", "dom-1", ProviderRole::kApf),
                                           Function("aef-1", "dom-1", ProviderRole::kAef)}))
                  .ok());
  EXPECT_EQ(registry.Insert(Domain("dom-1", {})).code(), absl::StatusCode::kAlreadyExists);
  // A function id is unique across domains.
  EXPECT_EQ(registry.Insert(Domain("dom-2", {Function("aef-1", "dom-2", ProviderRole::kAef)}))
                .code(),
            absl::StatusCode::kAlreadyExists);
  EXPECT_FALSE(registry.Get("dom-2")->has_value());  // nothing of the refused insert is left
  auto d = registry.Get("dom-1");
  ASSERT_TRUE(d.ok() && d->has_value()) << d.status();
  EXPECT_EQ((*d)->info, "operator dom-1");
  ASSERT_EQ((*d)->functions.size(), 3u);
  EXPECT_EQ((*d)->functions[1].id, "apf-1");  // in registration order
  EXPECT_EQ((*d)->functions[2].certificate_pem, "CERT-aef-1");
  auto f = registry.GetFunction("aef-1");
  ASSERT_TRUE(f.ok() && f->has_value());
  EXPECT_EQ((*f)->role, ProviderRole::kAef);
  EXPECT_EQ((*f)->domain_id, "dom-1");

  ASSERT_TRUE(apis.Insert(Api("api-1", "apf-1", "loc", {{"aef-1", {}}})).ok());
  // Replace without the APF: it is deregistered, and the API it published goes with it.
  ProviderDomain without_apf = Domain("dom-1", {Function("amf-1", "dom-1", ProviderRole::kAmf),
                                                Function("aef-1", "dom-1", ProviderRole::kAef),
                                                Function("aef-2", "dom-1", ProviderRole::kAef)});
  without_apf.functions[1].certificate_pem = "CERT-new";
  ASSERT_TRUE(registry.Replace(without_apf).ok());
  EXPECT_FALSE(registry.GetFunction("apf-1")->has_value());
  EXPECT_FALSE(apis.Get("api-1")->has_value());
  EXPECT_EQ((*registry.GetFunction("aef-1"))->certificate_pem, "CERT-new");
  EXPECT_EQ((*registry.Get("dom-1"))->functions.size(), 3u);
  // A function keeps its role; another domain's function cannot be taken over.
  ProviderDomain role_change = without_apf;
  role_change.functions[1].role = ProviderRole::kApf;
  EXPECT_FALSE(registry.Replace(role_change).ok());
  ASSERT_TRUE(registry.Insert(Domain("dom-2", {Function("amf-2", "dom-2", ProviderRole::kAmf)}))
                  .ok());
  ProviderDomain takeover = Domain("dom-2", {Function("aef-1", "dom-2", ProviderRole::kAef)});
  EXPECT_EQ(registry.Replace(takeover).code(), absl::StatusCode::kNotFound);
  EXPECT_EQ((*registry.GetFunction("amf-2"))->domain_id, "dom-2");  // refused: unchanged
  EXPECT_EQ(registry.Replace(Domain("dom-9", {})).code(), absl::StatusCode::kNotFound);

  ASSERT_TRUE(registry.Delete("dom-1").ok());
  EXPECT_FALSE(registry.Get("dom-1")->has_value());
  EXPECT_FALSE(registry.GetFunction("aef-2")->has_value());
  EXPECT_EQ(registry.Delete("dom-1").code(), absl::StatusCode::kNotFound);
  EXPECT_TRUE(registry.Get("dom-2")->has_value());
}

TEST_P(RepositoriesTest, ServiceApisAreFoundByApfNameAefAndInterface) {
  SqlProviderRegistry registry(db_);
  SqlServiceApis apis(db_);
  ASSERT_TRUE(registry
                  .Insert(Domain("dom-1", {Function("apf-1", "dom-1", ProviderRole::kApf),
                                           Function("aef-1", "dom-1", ProviderRole::kAef),
                                           Function("aef-2", "dom-1", ProviderRole::kAef)}))
                  .ok());
  ASSERT_TRUE(registry.Insert(Domain("dom-2", {Function("apf-2", "dom-2", ProviderRole::kApf),
                                               Function("aef-9", "dom-2", ProviderRole::kAef)}))
                  .ok());
  ServiceApiRecord loc = Api("api-1", "apf-1", "loc",
                             {{"aef-1", {Address("10.0.0.1", 8443)}}, {"aef-2", {}}});
  loc.shareable = true;
  loc.shareable_with = {"ccf-b", "b.example"};
  ASSERT_TRUE(apis.Insert(loc).ok());
  ASSERT_TRUE(apis.Insert(Api("api-2", "apf-1", "qos", {{"aef-2", {Address("10.0.0.2", 1)}}})).ok());
  ASSERT_TRUE(apis.Insert(Api("api-3", "apf-2", "loc", {{"aef-9", {}}})).ok());
  EXPECT_EQ(apis.Insert(loc).code(), absl::StatusCode::kAlreadyExists);
  // Only a registered APF publishes, and only AEFs of its own domain.
  EXPECT_EQ(apis.Insert(Api("api-4", "apf-x", "x", {{"aef-1", {}}})).code(),
            absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(apis.Insert(Api("api-4", "apf-1", "x", {{"aef-9", {}}})).code(),
            absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(apis.Insert(Api("api-4", "aef-1", "x", {{"aef-1", {}}})).code(),
            absl::StatusCode::kFailedPrecondition);

  auto got = apis.Get("api-1");
  ASSERT_TRUE(got.ok() && got->has_value()) << got.status();
  EXPECT_TRUE((*got)->shareable);
  EXPECT_EQ((*got)->shareable_with, (std::vector<std::string>{"ccf-b", "b.example"}));
  ASSERT_EQ((*got)->aefs.size(), 2u);
  EXPECT_EQ((*got)->aefs[0].interfaces, (std::vector<InterfaceAddress>{Address("10.0.0.1", 8443)}));
  EXPECT_TRUE((*got)->aefs[1].interfaces.empty());
  EXPECT_EQ((*got)->description, R"({"apiId":"api-1"})");

  auto ids = [](const absl::StatusOr<std::vector<ServiceApiRecord>>& r) {
    std::vector<std::string> out;
    if (r.ok()) {
      for (const ServiceApiRecord& a : *r) out.push_back(a.api_id);
    }
    return out;
  };
  using Ids = std::vector<std::string>;
  EXPECT_EQ(ids(apis.OfApf("apf-1")), (Ids{"api-1", "api-2"}));
  EXPECT_EQ(*apis.Names({"api-2", "api-1", "api-3", "nope"}),
            (std::set<std::string>{"loc", "qos"}));
  EXPECT_EQ(ids(apis.Named("loc")), (Ids{"api-1", "api-3"}));
  EXPECT_EQ(ids(apis.Named("")), (Ids{"api-1", "api-2", "api-3"}));
  EXPECT_EQ(ids(apis.WithAef("aef-2")), (Ids{"api-1", "api-2"}));
  EXPECT_EQ(ids(apis.WithAef("aef-7")), Ids{});
  EXPECT_EQ(ids(apis.WithInterface(Address("10.0.0.1", 8443))), Ids{"api-1"});
  // Every member counts: another port, or an apiPrefix more, is another interface.
  EXPECT_EQ(ids(apis.WithInterface(Address("10.0.0.1", 8444))), Ids{});
  InterfaceAddress prefixed = Address("10.0.0.1", 8443);
  prefixed.api_prefix = "/v1";
  EXPECT_EQ(ids(apis.WithInterface(prefixed)), Ids{});

  // Replace: only by its APF; the indexes follow.
  ServiceApiRecord moved = Api("api-2", "apf-1", "qos", {{"aef-1", {}}});
  EXPECT_EQ(apis.Replace(Api("api-2", "apf-2", "qos", {{"aef-9", {}}})).code(),
            absl::StatusCode::kNotFound);
  ASSERT_TRUE(apis.Replace(moved).ok());
  EXPECT_EQ(ids(apis.WithAef("aef-2")), Ids{"api-1"});
  EXPECT_EQ(ids(apis.WithInterface(Address("10.0.0.2", 1))), Ids{});
  EXPECT_EQ(ids(apis.WithAef("aef-1")), (Ids{"api-1", "api-2"}));
  EXPECT_EQ(apis.Delete("api-2", "apf-2").code(), absl::StatusCode::kNotFound);
  ASSERT_TRUE(apis.Delete("api-2", "apf-1").ok());
  EXPECT_EQ(ids(apis.WithAef("aef-1")), Ids{"api-1"});
  EXPECT_EQ(SqlInt((*db_->Query("SELECT COUNT(*) FROM service_api_aefs WHERE api_id = 'api-2'"))[0][0]), 0);
}

TEST_P(RepositoriesTest, PublishingRacingADeregistrationLeavesNoOrphan) {
  SqlProviderRegistry registry(db_);
  SqlServiceApis apis(db_);
  for (int round = 0; round < 20; ++round) {
    std::string dom = "dom-" + std::to_string(round), apf = "apf-" + std::to_string(round),
                aef = "aef-" + std::to_string(round);
    ASSERT_TRUE(registry
                    .Insert(Domain(dom, {Function(apf, dom, ProviderRole::kApf),
                                         Function(aef, dom, ProviderRole::kAef)}))
                    .ok());
    std::thread publisher([&] {
      for (int i = 0; i < 5; ++i) {
        (void)apis.Insert(Api(apf + "-api-" + std::to_string(i), apf, "x", {{aef, {}}}));
      }
    });
    std::thread deregistration([&] { EXPECT_TRUE(registry.Delete(dom).ok()); });
    publisher.join();
    deregistration.join();
    // Whatever the interleaving: the domain is gone, and so is every API of its APF.
    EXPECT_TRUE(apis.OfApf(apf)->empty()) << round;
  }
}

// Subscriptions keep every column on both backends; an event's notifications commit with the
// change that caused them or not at all, and only for the subscriptions whose filter accepts it.
TEST_P(RepositoriesTest, EventSubscriptionsAndTheirNotificationsCommitWithTheChange) {
  SqlEventSubscriptions subs(db_);
  EventSubscriptionRecord r;
  r.subscription_id = "sub-1";
  r.subscriber_id = "aef-1";
  r.subscriber_kind = SubscriberKind::kAef;
  r.body = R"({"events":["SERVICE_API_AVAILABLE","SERVICE_API_UNAVAILABLE"]})";
  r.events = {kEventServiceApiAvailable, kEventServiceApiUnavailable};
  r.filters = {CapifEventFilter{{}, {}, {"aef-1"}}, std::nullopt};
  r.notification_destination = "https://aef.example/n";
  r.expires = t0_ + absl::Hours(1);
  r.reports_left = 5;
  r.created = absl::FromUnixSeconds(absl::ToUnixSeconds(t0_));
  ASSERT_TRUE(subs.Insert(r).ok());
  EXPECT_TRUE(absl::IsAlreadyExists(subs.Insert(r)));
  auto got = subs.Get("aef-1", "sub-1");
  ASSERT_TRUE(got.ok() && got->has_value()) << got.status();
  EXPECT_EQ((*got)->body, r.body);
  EXPECT_EQ((*got)->subscriber_kind, SubscriberKind::kAef);
  EXPECT_EQ((*got)->events, r.events);
  ASSERT_EQ((*got)->filters.size(), 2u);
  ASSERT_TRUE((*got)->filters[0].has_value());
  EXPECT_EQ((*got)->filters[0]->aef_ids, std::vector<std::string>{"aef-1"});
  EXPECT_FALSE((*got)->filters[1].has_value());
  EXPECT_EQ((*got)->expires, absl::FromUnixMillis(absl::ToUnixMillis(r.expires)));
  EXPECT_EQ((*got)->reports_left, 5);
  EXPECT_EQ((*got)->created, r.created);
  EXPECT_FALSE(subs.Get("aef-2", "sub-1")->has_value());  // another subscriber's

  FakeClock clock(t0_);
  EventLog log(clock);
  SqlNoticeOutbox outbox(db_);
  auto record = [&](const CapifEventOccurrence& e, bool commit) {
    return db_->Transaction([&](SqlDatabase::Tx& tx) -> absl::Status {
      absl::Status s = log.RecordIn(tx, e);
      if (!s.ok()) return s;
      return commit ? absl::OkStatus() : absl::AbortedError("the change failed");
    });
  };
  EXPECT_TRUE(absl::IsAborted(
      record(ServiceApiEvent(kEventServiceApiAvailable, "api-1", {"aef-1"}), false)));
  EXPECT_TRUE(outbox.Pending()->empty());
  ASSERT_TRUE(record(ServiceApiEvent(kEventServiceApiAvailable, "api-1", {"aef-1"}), true).ok());
  ASSERT_TRUE(record(ServiceApiEvent(kEventServiceApiAvailable, "api-2", {"aef-2"}), true).ok());
  ASSERT_TRUE(record(ServiceApiEvent(kEventServiceApiUnavailable, "api-2", {"aef-2"}), true).ok());
  ASSERT_TRUE(record(InvokerEvent(kEventInvokerOnboarded, "inv-1"), true).ok());  // not listed
  auto pending = outbox.Pending();
  ASSERT_TRUE(pending.ok());
  ASSERT_EQ(pending->size(), 2u);
  EXPECT_EQ((*pending)[0].destination, "sub-1");
  EXPECT_EQ((*pending)[0].kind, kNoticeCapifEvent);
  nlohmann::json first = nlohmann::json::parse((*pending)[0].payload);
  EXPECT_EQ(first["notification"]["events"], kEventServiceApiAvailable);
  EXPECT_EQ(nlohmann::json::parse((*pending)[1].payload)["notification"]["events"],
            kEventServiceApiUnavailable);
  EXPECT_EQ((*subs.Get("aef-1", "sub-1"))->reports_left, 3);

  ASSERT_TRUE(subs.Delete("aef-1", "sub-1").ok());
  EXPECT_TRUE(outbox.Pending()->empty());  // its undelivered notifications went with it
  EXPECT_TRUE(absl::IsNotFound(subs.Delete("aef-1", "sub-1")));
}

// A revocation by an AEF here stands, with the grants gone, until the invoker's home asks again.
TEST_P(RepositoriesTest, ARevocationByTheAefStandsUntilANewGrant) {
  SqlRemoteGrants grants(db_);
  RemoteGrant g{"ccf-b", "inv-1", "aef-1", "api-1", "OAUTH", t0_, std::nullopt};
  ASSERT_TRUE(grants.Put(g).ok());
  EXPECT_FALSE(*grants.RevokedByAef("inv-1", "aef-1"));
  ASSERT_TRUE(grants.RemoveRevokedByAef({g}, "inv-1", "aef-1", t0_, {}).ok());
  EXPECT_TRUE(grants.OfInvoker("inv-1")->empty());
  EXPECT_TRUE(*grants.RevokedByAef("inv-1", "aef-1"));
  EXPECT_FALSE(*grants.RevokedByAef("inv-1", "aef-2"));
  EXPECT_FALSE(*grants.RevokedByAef("inv-2", "aef-1"));
  ASSERT_TRUE(grants.RemoveRevokedByAef({}, "inv-1", "aef-1", t0_ + absl::Seconds(1), {}).ok());
  g.granted_at = t0_ + absl::Seconds(2);
  ASSERT_TRUE(grants.Put(g).ok());
  EXPECT_FALSE(*grants.RevokedByAef("inv-1", "aef-1"));
}

INSTANTIATE_TEST_SUITE_P(Backends, RepositoriesTest, ::testing::ValuesIn(kBackends),
                         BackendName);

}  // namespace
}  // namespace capif
