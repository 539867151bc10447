// Interop: two real ccfd replicas of one CCF on one real PostgreSQL server (a private cluster
// the test starts), each rule of issue 13 that several replicas must keep.
#include <httplib.h>
#include <signal.h>

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include <memory>
#include <string>

#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "absl/time/clock.h"
#include "common/evp_key.h"
#include "common/file_io.h"
#include "common/subprocess.h"
#include "common/testing/postgres_server.h"
#include "common/testing/test_paths.h"
#include "common/x509_cert.h"
#include "interop-tests/ccfd_fixture.h"
#include "sdk/provider/provider_client.h"

namespace capif {
namespace {

using nlohmann::json;

constexpr char kOnboarded[] = "/api-invoker-management/v1/onboardedInvokers";

class ReplicasTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto pg = PostgresServer::Shared();
    ASSERT_TRUE(pg.ok()) << pg.status();
    auto dsn = (*pg)->CreateDatabase();
    ASSERT_TRUE(dsn.ok()) << dsn.status();
    const std::string name = ::testing::UnitTest::GetInstance()->current_test_info()->name();
    CcfdOptions first;
    first.storage_json = json{{"postgres", {{"dsn", *dsn}, {"pool_size", 4}}}}.dump();
    r1_ = std::make_unique<CcfdProcess>(name + "-r1", "a", first);
    CcfdOptions second = first;
    second.replica_of = name + "-r1";
    r2_ = std::make_unique<CcfdProcess>(name + "-r2", "a", second);
  }

  static int PortOf(const CcfdProcess& ccf) {
    return std::stoi(ccf.api_root().substr(ccf.api_root().rfind(':') + 1));
  }

  // A client of `ccf` trusting only the domain CA; with the invoker's certificate when given.
  static std::unique_ptr<httplib::SSLClient> Client(const CcfdProcess& ccf,
                                                    const X509Cert* cert = nullptr,
                                                    const EvpKey* key = nullptr) {
    auto c = cert ? std::make_unique<httplib::SSLClient>("127.0.0.1", PortOf(ccf), cert->get(),
                                                         key->get())
                  : std::make_unique<httplib::SSLClient>("127.0.0.1", PortOf(ccf));
    X509_STORE* store = X509_STORE_new();
    X509_STORE_add_cert(store, X509Cert::FromPem(ccf.ca_pem())->get());
    c->set_ca_cert_store(store);
    c->enable_server_certificate_verification(true);
    c->set_read_timeout(30);
    return c;
  }

  static std::string Enrolment(const EvpKey& key) {
    return json{{"onboardingInformation", {{"apiInvokerPublicKey", *CreateCsrPem(key)}}},
                {"notificationDestination", "https://invoker.example/cb"}}
        .dump();
  }

  std::unique_ptr<CcfdProcess> r1_, r2_;
};

TEST_F(ReplicasTest, AnEnrollmentTokenIsSpentOnceAcrossReplicasAndStateIsShared) {
  // The token is made through replica 1's admin socket; the invoker spends it at replica 2.
  std::string token = r1_->EnrollmentToken("invoker");
  httplib::Headers auth = {{"Authorization", "Bearer " + token}};
  EvpKey key = *EvpKey::GenerateEcP256();
  auto created = Client(*r2_)->Post(kOnboarded, auth, Enrolment(key), "application/json");
  ASSERT_TRUE(created) << httplib::to_string(created.error());
  ASSERT_EQ(created->status, 201) << created->body;
  json body = json::parse(created->body);
  std::string id = body["apiInvokerId"];
  X509Cert cert = *X509Cert::FromPem(
      body["onboardingInformation"]["apiInvokerCertificate"].get<std::string>());

  // Spent: neither replica takes it again.
  EvpKey other = *EvpKey::GenerateEcP256();
  for (CcfdProcess* r : {r1_.get(), r2_.get()}) {
    auto again = Client(*r)->Post(kOnboarded, auth, Enrolment(other), "application/json");
    ASSERT_TRUE(again);
    EXPECT_EQ(again->status, 401) << again->body;
  }
  // The invoker onboarded at replica 2 is known to replica 1: it updates and offboards there.
  json update = json::parse(Enrolment(key));
  update["notificationDestination"] = "https://invoker.example/other";
  auto updated = Client(*r1_, &cert, &key)
                     ->Put(absl::StrCat(kOnboarded, "/", id), update.dump(), "application/json");
  ASSERT_TRUE(updated);
  EXPECT_EQ(updated->status, 200) << updated->body;
  auto deleted = Client(*r1_, &cert, &key)->Delete(absl::StrCat(kOnboarded, "/", id));
  ASSERT_TRUE(deleted);
  EXPECT_EQ(deleted->status, 204) << deleted->body;
  auto gone = Client(*r2_, &cert, &key)
                  ->Put(absl::StrCat(kOnboarded, "/", id), update.dump(), "application/json");
  ASSERT_TRUE(gone);
  EXPECT_EQ(gone->status, 404) << gone->body;
}

TEST_F(ReplicasTest, ARegSecIsSpentOnceAcrossReplicas) {
  // A provider's one-time regSec, made at replica 1, registers the provider at replica 2; then
  // neither replica takes it again.
  std::string reg_sec = r1_->EnrollmentToken("provider");
  EvpKey key = *EvpKey::GenerateEcP256();
  auto registered = RegisterApiProvider(r2_->api_root(), r2_->ca_pem(), reg_sec, key);
  ASSERT_TRUE(registered.ok()) << registered.status();
  EXPECT_FALSE(registered->aef_id.empty());
  for (CcfdProcess* r : {r1_.get(), r2_.get()}) {
    auto again = RegisterApiProvider(r->api_root(), r->ca_pem(), reg_sec, key);
    ASSERT_FALSE(again.ok()) << "a spent regSec registered a provider again";
    EXPECT_EQ(again.status().code(), absl::StatusCode::kUnauthenticated) << again.status();
  }
}

TEST_F(ReplicasTest, ConcurrentOnboardingsWithOneTokenAtBothReplicasSucceedOnce) {
  // The same token offered to both replicas at once: exactly one onboarding is accepted.
  for (int round = 0; round < 5; ++round) {
    std::string token = r1_->EnrollmentToken("invoker");
    httplib::Headers auth = {{"Authorization", "Bearer " + token}};
    EvpKey k1 = *EvpKey::GenerateEcP256();
    EvpKey k2 = *EvpKey::GenerateEcP256();
    std::string b1 = Enrolment(k1), b2 = Enrolment(k2);
    int s1 = 0, s2 = 0;
    std::thread t([&] {
      auto r = Client(*r2_)->Post(kOnboarded, auth, b2, "application/json");
      s2 = r ? r->status : -1;
    });
    auto r = Client(*r1_)->Post(kOnboarded, auth, b1, "application/json");
    s1 = r ? r->status : -1;
    t.join();
    EXPECT_EQ((s1 == 201) + (s2 == 201), 1) << "round " << round << ": " << s1 << ", " << s2;
    EXPECT_TRUE((s1 == 201 && s2 == 401) || (s1 == 401 && s2 == 201)) << s1 << ", " << s2;
  }
}

TEST_F(ReplicasTest, BothReplicasPublishTheSameTokenKeys) {
  auto jwks = [](const CcfdProcess& r) {
    auto got = Client(r)->Get("/.well-known/jwks.json");
    EXPECT_TRUE(got);
    return got ? json::parse(got->body) : json();
  };
  json first = jwks(*r1_);
  ASSERT_TRUE(first.contains("keys")) << first.dump();
  EXPECT_EQ(first, jwks(*r2_));

  // A rotation at replica 1 (through its admin socket) is published by replica 2 too: it
  // hears of it over the database (LISTEN/NOTIFY) and reloads the keys.
  auto rotated = RunToCompletion(
      {Runfile("tools/capifctl/capifctl"), "rotate-token-key", "--config", r1_->config()},
      absl::Seconds(60));
  ASSERT_TRUE(rotated.ok() && rotated->exit_code == 0)
      << (rotated.ok() ? rotated->err : rotated.status().ToString());
  json after = jwks(*r1_);
  ASSERT_EQ(after["keys"].size(), first["keys"].size() + 1) << after.dump();
  // Bounded wait for the other replica (not a timing assertion: the bound is generous).
  absl::Time deadline = absl::Now() + absl::Seconds(20);
  json seen = jwks(*r2_);
  while (seen != after && absl::Now() < deadline) {
    absl::SleepFor(absl::Milliseconds(20));  // polling for the condition, bounded above
    seen = jwks(*r2_);
  }
  EXPECT_EQ(seen, after);
}

// A peer CCF (B, on SQLite) lists both replicas of A as A's endpoints: capifctl peers shows
// each, and when one is killed, the other still answers for A.
TEST_F(ReplicasTest, APeerListingBothReplicasSeesEachAndKeepsTheLiveOne) {
  const std::string name = ::testing::UnitTest::GetInstance()->current_test_info()->name();
  std::string b_bus, b_ca;
  {
    CcfdProcess b_first(name + "-b", "b");  // B's PKI and bus address, before A knows them
    b_bus = b_first.bus_endpoint();
    b_ca = b_first.ca_path();
  }
  auto peer_b = json::array({{{"ccf_id", "ccf-b"},
                              {"trust_domain", "operator-b.example"},
                              {"endpoint", b_bus},
                              {"trust_bundle", b_ca},
                              {"relation", "CAPIF-6e"}}});
  // The replicas restart on their bus addresses, now naming B.
  const std::string r1_bus = r1_->bus_endpoint(), r2_bus = r2_->bus_endpoint();
  const std::string storage = json::parse(
      *ReadFile(r1_->config()))["storage"].dump();
  r2_.reset();
  r1_.reset();
  CcfdOptions o1;
  o1.storage_json = storage;
  o1.peers_json = peer_b.dump();
  o1.bus_listen = r1_bus;
  r1_ = std::make_unique<CcfdProcess>(name + "-r1", "a", o1);
  CcfdOptions o2 = o1;
  o2.bus_listen = r2_bus;
  r2_ = std::make_unique<CcfdProcess>(name + "-r2", "a", o2);
  CcfdOptions ob;
  ob.bus_listen = b_bus;
  ob.peers_json = json::array({{{"ccf_id", "ccf-a"},
                                {"trust_domain", "operator-a.example"},
                                {"endpoints", {r1_bus, r2_bus}},
                                {"trust_bundle", r1_->ca_path()},
                                {"relation", "CAPIF-6e"}}})
                      .dump();
  CcfdProcess b(name + "-b", "b", ob);

  auto peers = [&] {
    auto r = RunToCompletion(
        {Runfile("tools/capifctl/capifctl"), "peers", "--config", b.config(), "--json"},
        absl::Seconds(60));
    EXPECT_TRUE(r.ok()) << r.status();
    return r.ok() ? json::parse(r->out, nullptr, false)["peers"] : json();
  };
  json both = peers();
  ASSERT_EQ(both.size(), 2u) << both.dump();
  EXPECT_EQ(both[0]["endpoint"], r1_bus);
  EXPECT_EQ(both[1]["endpoint"], r2_bus);
  for (const json& row : both) {
    EXPECT_EQ(row["ccf_id"], "ccf-a");
    EXPECT_EQ(row["status"], "reachable") << row.dump();
    EXPECT_EQ(row["presented_identity"], "spiffe://operator-a.example/ccf/ccf-a");
  }
  // Both replicas serve the same trust bundle.
  EXPECT_EQ(both[0]["bundle_sequence"], both[1]["bundle_sequence"]) << both.dump();
  r1_->process().Signal(SIGKILL);
  r1_->process().Wait(absl::Seconds(30)).IgnoreError();
  json one = peers();
  ASSERT_EQ(one.size(), 2u) << one.dump();
  EXPECT_EQ(one[0]["status"], "unreachable") << one.dump();
  EXPECT_EQ(one[1]["status"], "reachable") << one.dump();
  r1_->KillAndRestart();  // leave the fixture a running replica to stop
}

}  // namespace
}  // namespace capif
