// PeerBundles against a real in-process bus server of CCF-A, fetched by CCF-B.
#include "federation/peer_bundles.h"

#include <gtest/gtest.h>

#include "absl/strings/str_cat.h"
#include "common/fake_clock.h"
#include "federation/bus_server.h"
#include "federation/testing/stub_local_ccf.h"
#include "federation/testing/test_domains.h"

namespace capif {
namespace {

class MemoryBundleStore final : public PeerBundleStore {
 public:
  absl::StatusOr<std::map<std::string, PeerBundleStatus>> LoadAll() override { return saved; }
  absl::Status Save(const std::string& id, const PeerBundleStatus& s) override {
    saved[id] = s;
    return absl::OkStatus();
  }
  std::map<std::string, PeerBundleStatus> saved;
};

class KeysLocalCcf final : public StubLocalCcf {
 public:
  std::string JwksJson() override { return R"({"keys":[]})"; }
};

class PeerBundlesTest : public ::testing::Test {
 protected:
  void SetUp() override {
    b_ = domains_.Identity("b.example", "ccf-b");
    StartA(7, 60);
  }
  void StartA(uint64_t sequence, uint32_t hint, int port = 0) {
    BusIdentity a = domains_.Identity("a.example", "ccf-a");
    a.bundle_sequence = sequence;
    a.bundle_refresh_hint_seconds = hint;
    auto directory = PeerDirectory::Create({domains_.PeerFor("b.example", "ccf-b", "unused:1")});
    ASSERT_TRUE(directory.ok());
    auto server = BusServer::Start(a, *directory, absl::StrCat("127.0.0.1:", port), Clock::Real(),
                                   &local_, nullptr);
    ASSERT_TRUE(server.ok()) << server.status();
    server_ = *std::move(server);
    peer_a_ = domains_.PeerFor("a.example", "ccf-a", absl::StrCat("127.0.0.1:", server_->port()));
    if (!client_) client_ = PeerClient::Create(b_, peer_a_, Clock::Real(), absl::Milliseconds(200));
  }

  TestDomains domains_{Clock::Real()};
  FakeClock clock_{absl::Now()};
  KeysLocalCcf local_;
  BusIdentity b_;
  Peer peer_a_;
  std::unique_ptr<BusServer> server_;
  std::unique_ptr<PeerClient> client_;
  MemoryBundleStore store_;
};

TEST_F(PeerBundlesTest, FetchesOnTheHintAndKeepsTheLastGoodOneWhenRefreshFails) {
  // A short deadline: with A down, each attempt waits that long for the channel (whose
  // reconnect backoff is at most 200 ms, so a returning A is reached within it).
  PeerBundles bundles({{peer_a_, client_.get()}}, &store_, clock_,
                      {absl::Seconds(10), absl::Seconds(5), absl::Seconds(2)});
  EXPECT_FALSE(bundles.Status("ccf-a").last_good.has_value());
  EXPECT_EQ(bundles.RefreshDue(), 1);
  PeerBundleStatus s = bundles.Status("ccf-a");
  ASSERT_TRUE(s.last_good.has_value());
  EXPECT_EQ(s.last_good->sequence, 7u);
  EXPECT_EQ(s.last_good->root_ca_pems.size(), 1u);
  EXPECT_EQ(s.last_good->jwks_json, R"({"keys":[]})");
  EXPECT_EQ(s.next_refresh, clock_.Now() + absl::Seconds(60));  // the hint
  EXPECT_TRUE(s.last_error.empty());
  EXPECT_EQ(store_.saved["ccf-a"].last_good->sequence, 7u);
  // Not due before the hint has passed.
  EXPECT_EQ(bundles.RefreshDue(), 0);
  EXPECT_EQ(bundles.Status("ccf-a").last_attempt, s.last_attempt);

  // A goes away: the refresh fails, the last good bundle stays, the failure is recorded and
  // retried after `retry`, doubling.
  int port = server_->port();
  server_->Shutdown(absl::Seconds(1));
  server_.reset();
  clock_.Advance(absl::Seconds(60));
  EXPECT_EQ(bundles.RefreshDue(), 0);
  s = bundles.Status("ccf-a");
  ASSERT_TRUE(s.last_good.has_value());
  EXPECT_EQ(s.last_good->sequence, 7u);
  EXPECT_FALSE(s.last_error.empty());
  EXPECT_EQ(s.failures, 1);
  EXPECT_EQ(s.next_refresh, clock_.Now() + absl::Seconds(5));
  EXPECT_EQ(store_.saved["ccf-a"].failures, 1);
  clock_.Advance(absl::Seconds(5));
  EXPECT_EQ(bundles.RefreshDue(), 0);
  EXPECT_EQ(bundles.Status("ccf-a").next_refresh, clock_.Now() + absl::Seconds(10));

  // A comes back with a lower sequence: refused, still the last good one.
  StartA(3, 60, port);
  clock_.Advance(absl::Seconds(10));
  EXPECT_EQ(bundles.RefreshDue(), 0);
  s = bundles.Status("ccf-a");
  EXPECT_EQ(s.last_good->sequence, 7u);
  EXPECT_NE(s.last_error.find("went backwards"), std::string::npos) << s.last_error;
}

TEST_F(PeerBundlesTest, StoredBundlesSurviveARestartAndRootsAddToTheConfiguredOnes) {
  {
    PeerBundles first({{peer_a_, client_.get()}}, &store_, clock_, {});
    ASSERT_EQ(first.RefreshDue(), 1);
  }
  server_->Shutdown(absl::Seconds(1));
  // A new CCF-A root appears only in the bundle (as after a CA roll-over): a peer configured
  // with another root accepts certificates of both.
  Peer configured_elsewhere = domains_.PeerFor("a.example", "ccf-a", peer_a_.endpoint);
  TestDomains other(Clock::Real());
  configured_elsewhere.trust_bundle = domains_.PeerFor("x.example", "ccf-x", "unused:1").trust_bundle;
  PeerBundles second({{configured_elsewhere, client_.get()}}, &store_, clock_, {});
  EXPECT_EQ(second.RootsOf(configured_elsewhere).roots().size(), 1u);  // nothing held yet
  ASSERT_TRUE(second.LoadStored().ok());
  EXPECT_EQ(second.Status("ccf-a").last_good->sequence, 7u);
  EXPECT_EQ(second.RootsOf(configured_elsewhere).roots().size(), 2u);
  auto cred = domains_.Issue("a.example", "spiffe://a.example/invoker/inv-1");
  auto chain = X509Cert::ChainFromPem(cred.chain_pem);
  ASSERT_TRUE(chain.ok());
  EXPECT_TRUE(second.RootsOf(configured_elsewhere).Verify(*chain, absl::Now()).ok());
  EXPECT_FALSE(configured_elsewhere.trust_bundle.Verify(*chain, absl::Now()).ok());
}

}  // namespace
}  // namespace capif
