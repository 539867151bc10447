#include "federation/peer_directory.h"

#include <gtest/gtest.h>

#include "common/fake_clock.h"
#include "federation/testing/test_domains.h"

namespace capif {
namespace {

class PeerDirectoryTest : public ::testing::Test {
 protected:
  PeerDirectoryTest() : domains_(clock_) {
    directory_ = *PeerDirectory::Create({domains_.PeerFor("b.example", "ccf-b", "127.0.0.1:1"),
                                         domains_.PeerFor("c.example", "ccf-c", "127.0.0.1:2")});
  }
  absl::Status Authenticate(const std::string& signing_domain, const std::string& uri) {
    return directory_->AuthenticatePeer(domains_.Issue(signing_domain, uri).chain_pem,
                                        clock_.Now())
        .status();
  }

  FakeClock clock_;
  TestDomains domains_;
  std::shared_ptr<const PeerDirectory> directory_;
};

TEST_F(PeerDirectoryTest, AcceptsConfiguredPeerInItsOwnDomain) {
  auto peer = directory_->AuthenticatePeer(
      domains_.Issue("b.example", "spiffe://b.example/ccf/ccf-b").chain_pem, clock_.Now());
  ASSERT_TRUE(peer.ok()) << peer.status();
  EXPECT_EQ((*peer)->ccf_id.value(), "ccf-b");
}

TEST_F(PeerDirectoryTest, RefusesUnknownCa) {
  EXPECT_EQ(Authenticate("x.example", "spiffe://b.example/ccf/ccf-b").code(),
            absl::StatusCode::kUnauthenticated);
}

TEST_F(PeerDirectoryTest, RefusesKnownDomainButUnconfiguredIdentity) {
  absl::Status s = Authenticate("b.example", "spiffe://b.example/ccf/ccf-rogue");
  EXPECT_EQ(s.code(), absl::StatusCode::kPermissionDenied);
  EXPECT_NE(s.message().find("not a configured peer"), absl::string_view::npos);
}

TEST_F(PeerDirectoryTest, RefusesCertificateOfOneDomainNamingAnother) {
  // Signed by B's CA, but claims to be C's CCF: must be checked against C's bundle only.
  absl::Status s = Authenticate("b.example", "spiffe://c.example/ccf/ccf-c");
  EXPECT_EQ(s.code(), absl::StatusCode::kUnauthenticated);
  EXPECT_NE(s.message().find("c.example"), absl::string_view::npos) << s;
}

TEST_F(PeerDirectoryTest, RefusesNonCcfIdentityAndExpiredCertificate) {
  EXPECT_EQ(Authenticate("b.example", "spiffe://b.example/aef/ccf-b").code(),
            absl::StatusCode::kUnauthenticated);
  std::string pem =
      domains_.Issue("b.example", "spiffe://b.example/ccf/ccf-b", absl::Hours(1)).chain_pem;
  clock_.Advance(absl::Hours(2));
  EXPECT_EQ(directory_->AuthenticatePeer(pem, clock_.Now()).status().code(),
            absl::StatusCode::kUnauthenticated);
}

TEST_F(PeerDirectoryTest, RefusesGarbage) {
  EXPECT_EQ(directory_->AuthenticatePeer("", clock_.Now()).status().code(),
            absl::StatusCode::kUnauthenticated);
  EXPECT_EQ(directory_->AuthenticatePeer("-----BEGIN CERTIFICATE-----\nxx\n", clock_.Now())
                .status()
                .code(),
            absl::StatusCode::kUnauthenticated);
}

TEST_F(PeerDirectoryTest, LooksUpByIdAndIdentity) {
  EXPECT_NE(directory_->FindByCcfId("ccf-c"), nullptr);
  EXPECT_EQ(directory_->FindByCcfId("ccf-z"), nullptr);
  EXPECT_NE(directory_->FindByIdentity(*SpiffeId::Parse("spiffe://c.example/ccf/ccf-c")), nullptr);
  // Right id, wrong trust domain.
  EXPECT_EQ(directory_->FindByIdentity(*SpiffeId::Parse("spiffe://b.example/ccf/ccf-c")), nullptr);
}

TEST_F(PeerDirectoryTest, CreateRefusesDuplicateIds) {
  EXPECT_FALSE(PeerDirectory::Create({domains_.PeerFor("b.example", "ccf-b", "127.0.0.1:1"),
                                      domains_.PeerFor("c.example", "ccf-b", "127.0.0.1:2")})
                   .ok());
}

}  // namespace
}  // namespace capif
