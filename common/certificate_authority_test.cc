#include "common/certificate_authority.h"

#include <gtest/gtest.h>

#include "common/fake_clock.h"
#include "common/x509_cert.h"

namespace capif {
namespace {

constexpr absl::Duration kTenYears = absl::Hours(24 * 3650);

SpiffeId Id(const char* uri) { return *SpiffeId::Parse(uri); }

class CertificateAuthorityTest : public ::testing::Test {
 protected:
  FakeClock clock_;
  CertificateAuthority ca_a_ =
      *CertificateAuthority::CreateRoot(TrustDomain("a.example"), clock_, kTenYears);
  CertificateAuthority ca_b_ =
      *CertificateAuthority::CreateRoot(TrustDomain("b.example"), clock_, kTenYears);
  EvpKey leaf_key_ = *EvpKey::GenerateEcP256();

  X509Cert IssueA(absl::Duration validity = absl::Hours(24)) {
    LeafRequest req{Id("spiffe://a.example/ccf/ccf-a"), &leaf_key_, {"localhost"}, {"127.0.0.1"},
                    validity};
    auto cert = ca_a_.Issue(req, clock_);
    EXPECT_TRUE(cert.ok()) << cert.status();
    return *std::move(cert);
  }
};

TEST_F(CertificateAuthorityTest, LeafHasExactlyTheRequestedSans) {
  X509Cert leaf = IssueA();
  EXPECT_EQ(leaf.UriSans(), std::vector<std::string>{"spiffe://a.example/ccf/ccf-a"});
  EXPECT_EQ(leaf.DnsSans(), std::vector<std::string>{"localhost"});
  EXPECT_EQ(leaf.IpSans(), std::vector<std::string>{"127.0.0.1"});
  EXPECT_FALSE(leaf.IsCa());
  EXPECT_TRUE(ca_a_.certificate().IsCa());
  EXPECT_TRUE(leaf.PublicKey()->PublicKeyEquals(leaf_key_));
}

TEST_F(CertificateAuthorityTest, ChainVerifiesOnlyAgainstItsOwnDomain) {
  X509Cert leaf = IssueA();
  auto bundle_a = TrustBundle::FromPem(*ca_a_.certificate().ToPem());
  auto bundle_b = TrustBundle::FromPem(*ca_b_.certificate().ToPem());
  ASSERT_TRUE(bundle_a.ok() && bundle_b.ok());
  EXPECT_TRUE(bundle_a->Verify({leaf}, clock_.Now()).ok());
  EXPECT_EQ(bundle_b->Verify({leaf}, clock_.Now()).code(), absl::StatusCode::kUnauthenticated);
}

TEST_F(CertificateAuthorityTest, ExpiredLeafDoesNotVerify) {
  X509Cert leaf = IssueA(absl::Hours(1));
  auto bundle = *TrustBundle::FromPem(*ca_a_.certificate().ToPem());
  clock_.Advance(absl::Hours(2));
  absl::Status s = bundle.Verify({leaf}, clock_.Now());
  EXPECT_EQ(s.code(), absl::StatusCode::kUnauthenticated);
  EXPECT_NE(s.message().find("expired"), absl::string_view::npos) << s;
}

TEST_F(CertificateAuthorityTest, LongIdentitiesFitTheSubject) {
  std::string long_id(128, 'x');
  LeafRequest req{*SpiffeId::Parse("spiffe://a-rather-long-trust-domain.operator.example/invoker/" +
                                   long_id),
                  &leaf_key_, {}, {}, absl::Hours(1)};
  auto ca = *CertificateAuthority::CreateRoot(
      TrustDomain("a-rather-long-trust-domain.operator.example"), clock_, kTenYears);
  auto leaf = ca.Issue(req, clock_);
  ASSERT_TRUE(leaf.ok()) << leaf.status();
  EXPECT_EQ(leaf->UriSans()[0], req.identity.ToString());
}

TEST_F(CertificateAuthorityTest, RefusesIdentityOfAnotherTrustDomain) {
  LeafRequest req{Id("spiffe://b.example/ccf/ccf-b"), &leaf_key_, {}, {}, absl::Hours(1)};
  EXPECT_EQ(ca_a_.Issue(req, clock_).status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(ca_a_.IssueUncheckedForTesting(req, clock_).ok());
}

TEST_F(CertificateAuthorityTest, RefusesBadSansAndValidity) {
  EvpKey* k = &leaf_key_;
  SpiffeId id = Id("spiffe://a.example/aef/aef-1");
  EXPECT_FALSE(ca_a_.Issue({id, k, {"bad name"}, {}, absl::Hours(1)}, clock_).ok());
  EXPECT_FALSE(ca_a_.Issue({id, k, {}, {"300.1.1.1"}, absl::Hours(1)}, clock_).ok());
  EXPECT_FALSE(ca_a_.Issue({id, k, {}, {}, absl::ZeroDuration()}, clock_).ok());
  EXPECT_FALSE(ca_a_.Issue({id, nullptr, {}, {}, absl::Hours(1)}, clock_).ok());
  EXPECT_TRUE(ca_a_.Issue({id, k, {}, {"::1"}, absl::Hours(1)}, clock_).ok());
}

TEST_F(CertificateAuthorityTest, ReloadFromCertAndKey) {
  auto reloaded = CertificateAuthority::FromCertAndKey(
      ca_a_.certificate(), *EvpKey::FromPrivateKeyPem(*ca_a_.key().PrivateKeyPem()));
  ASSERT_TRUE(reloaded.ok()) << reloaded.status();
  EXPECT_EQ(reloaded->trust_domain().value(), "a.example");
  auto mismatched = CertificateAuthority::FromCertAndKey(ca_a_.certificate(),
                                                         *EvpKey::GenerateEcP256());
  EXPECT_EQ(mismatched.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_FALSE(CertificateAuthority::FromCertAndKey(IssueA(), *EvpKey::GenerateEcP256()).ok());
}

TEST_F(CertificateAuthorityTest, TrustBundleRejectsNonCaAndGarbage) {
  EXPECT_FALSE(TrustBundle::FromPem(*IssueA().ToPem()).ok());
  EXPECT_FALSE(TrustBundle::FromPem("").ok());
  EXPECT_FALSE(TrustBundle::FromPem("-----BEGIN CERTIFICATE-----\nAA==\n-----END CERTIFICATE-----\n")
                   .ok());
  std::string two = *ca_a_.certificate().ToPem() + *ca_b_.certificate().ToPem();
  auto both = TrustBundle::FromPem(two);
  ASSERT_TRUE(both.ok());
  EXPECT_EQ(both->roots().size(), 2u);
}

TEST_F(CertificateAuthorityTest, ChainPemRoundTrip) {
  X509Cert leaf = IssueA();
  auto pem = ChainToPem({leaf, ca_a_.certificate()});
  ASSERT_TRUE(pem.ok());
  auto chain = X509Cert::ChainFromPem(*pem);
  ASSERT_TRUE(chain.ok());
  ASSERT_EQ(chain->size(), 2u);
  EXPECT_EQ((*chain)[0].UriSans(), leaf.UriSans());
  EXPECT_FALSE(X509Cert::FromPem(*pem).ok());  // two certificates where one is expected
}

}  // namespace
}  // namespace capif

namespace capif {
namespace {

TEST(CsrTest, CreatedCsrYieldsItsKeyAndForgedOneIsRefused) {
  EvpKey key = *EvpKey::GenerateEcP256();
  auto csr = CreateCsrPem(key);
  ASSERT_TRUE(csr.ok()) << csr.status();
  auto from_csr = PublicKeyFromCsrOrKeyPem(*csr);
  ASSERT_TRUE(from_csr.ok()) << from_csr.status();
  EXPECT_TRUE(from_csr->PublicKeyEquals(key));
  auto from_pub = PublicKeyFromCsrOrKeyPem(*key.PublicKeyPem());
  ASSERT_TRUE(from_pub.ok());
  EXPECT_TRUE(from_pub->PublicKeyEquals(key));
  // Flip a byte inside the base64 body: the self-signature no longer verifies (or it no longer
  // parses); either way it is refused.
  std::string forged = *csr;
  size_t pos = forged.find('\n') + 20;
  forged[pos] = forged[pos] == 'A' ? 'B' : 'A';
  EXPECT_FALSE(PublicKeyFromCsrPem(forged).ok());
  EXPECT_FALSE(PublicKeyFromCsrOrKeyPem("not pem").ok());
}

}  // namespace
}  // namespace capif
