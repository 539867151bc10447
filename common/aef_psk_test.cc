#include "common/aef_psk.h"

#include <openssl/err.h>
#include <openssl/ssl.h>

#include <gtest/gtest.h>

#include "absl/strings/escaping.h"
#include "common/certificate_authority.h"
#include "common/clock.h"

namespace capif {
namespace {

std::string Hex(const SecretBytes& s) {
  return absl::BytesToHexString(s.Reveal(InsecureSecretAccess()));
}

// The expected value was computed independently of this code, with Python's standard library:
//   import hmac, hashlib
//   ms = bytes(range(48)); sid = bytes(range(0xa0, 0xc0))
//   p0 = b'aef-1.operator-a.example:8443/location-query/v1'
//   s = b'\x7a' + p0 + len(p0).to_bytes(2, 'big') + sid + len(sid).to_bytes(2, 'big')
//   hmac.new(ms, s, hashlib.sha256).hexdigest()
TEST(AefPskTest, MatchesIndependentlyComputedVector) {
  std::string master;
  for (int i = 0; i < 48; ++i) master.push_back(static_cast<char>(i));
  std::string sid;
  for (int i = 0xa0; i < 0xc0; ++i) sid.push_back(static_cast<char>(i));
  std::string p0 = AefInterfaceInfo("aef-1.operator-a.example", "", "", 8443, "/location-query/v1");
  EXPECT_EQ(p0, "aef-1.operator-a.example:8443/location-query/v1");
  auto psk = DeriveAefPsk(SecretBytes(master), p0, sid);
  ASSERT_TRUE(psk.ok()) << psk.status();
  EXPECT_EQ(Hex(*psk), "7cb5a83d8ca4fd70f280f8d76af9a86ecd6688019076e19962aed68d88158007");
}

TEST(AefPskTest, EveryInputMatters) {
  SecretBytes key("k");
  std::string base = Hex(*DeriveAefPsk(key, "a:1", "sid"));
  EXPECT_NE(Hex(*DeriveAefPsk(SecretBytes("K"), "a:1", "sid")), base);
  EXPECT_NE(Hex(*DeriveAefPsk(key, "a:2", "sid")), base);
  EXPECT_NE(Hex(*DeriveAefPsk(key, "a:1", "sie")), base);
  // Lengths are encoded, so moving a byte between P0 and P1 changes the key.
  EXPECT_NE(Hex(*DeriveAefPsk(key, "a:1s", "id")), base);
  EXPECT_FALSE(DeriveAefPsk(SecretBytes(), "a:1", "sid").ok());
  EXPECT_FALSE(DeriveAefPsk(key, std::string(70000, 'x'), "sid").ok());
}

TEST(AefPskTest, InterfaceInfoOfProfile) {
  nlohmann::json profile = {{"aefId", "aef-1"},
                            {"interfaceDescriptions",
                             {{{"fqdn", "a.example"}, {"port", 8443}, {"apiPrefix", "/x"}},
                              {{"ipv4Addr", "10.0.0.2"}, {"port", 443}}}}};
  EXPECT_EQ(AefInterfaceInfoOfProfile(profile, nullptr), "a.example:8443/x");
  EXPECT_EQ(AefInterfaceInfoOfProfile(profile, profile["interfaceDescriptions"][1]), "10.0.0.2:443");
  EXPECT_EQ(AefInterfaceInfoOfProfile(nlohmann::json{{"domainName", "api.example"}}, nullptr),
            "api.example");
}

TEST(AefPskTest, InterfaceInfoPrefersFqdnThenIpv4ThenIpv6) {
  EXPECT_EQ(AefInterfaceInfo("", "10.0.0.1", "::1", 443, ""), "10.0.0.1:443");
  EXPECT_EQ(AefInterfaceInfo("", "", "2001:db8::1", 443, "/p"), "[2001:db8::1]:443/p");
}

// A real TLS handshake in memory: both ends must derive the same key material.
class TlsPairTest : public ::testing::TestWithParam<int> {
 protected:
  void SetUp() override {
    auto ca = *CertificateAuthority::CreateRoot(TrustDomain("a.example"), Clock::Real(),
                                                absl::Hours(1));
    EvpKey key = *EvpKey::GenerateEcP256();
    X509Cert cert = *ca.Issue(
        {*SpiffeId::Parse("spiffe://a.example/ccf/ccf-a"), &key, {}, {}, absl::Hours(1)},
        Clock::Real());
    server_ctx_ = SSL_CTX_new(TLS_server_method());
    client_ctx_ = SSL_CTX_new(TLS_client_method());
    for (SSL_CTX* ctx : {server_ctx_, client_ctx_}) {
      SSL_CTX_set_min_proto_version(ctx, GetParam());
      SSL_CTX_set_max_proto_version(ctx, GetParam());
    }
    SSL_CTX_set_options(server_ctx_, SSL_OP_NO_TICKET);  // as the CCF serves CAPIF-1e
    ASSERT_EQ(SSL_CTX_use_certificate(server_ctx_, cert.get()), 1);
    ASSERT_EQ(SSL_CTX_use_PrivateKey(server_ctx_, key.get()), 1);
    server_ = SSL_new(server_ctx_);
    client_ = SSL_new(client_ctx_);
    BIO *s_bio, *c_bio;
    ASSERT_EQ(BIO_new_bio_pair(&s_bio, 0, &c_bio, 0), 1);
    SSL_set_bio(server_, s_bio, s_bio);
    SSL_set_bio(client_, c_bio, c_bio);
    SSL_set_accept_state(server_);
    SSL_set_connect_state(client_);
    for (int i = 0; i < 20 && !(SSL_is_init_finished(server_) && SSL_is_init_finished(client_));
         ++i) {
      SSL_do_handshake(client_);
      SSL_do_handshake(server_);
    }
    ASSERT_TRUE(SSL_is_init_finished(server_) && SSL_is_init_finished(client_));
  }
  void TearDown() override {
    SSL_free(server_);
    SSL_free(client_);
    SSL_CTX_free(server_ctx_);
    SSL_CTX_free(client_ctx_);
  }

  SSL_CTX* server_ctx_ = nullptr;
  SSL_CTX* client_ctx_ = nullptr;
  SSL* server_ = nullptr;
  SSL* client_ = nullptr;
};

TEST_P(TlsPairTest, BothEndsDeriveTheSameAefPsk) {
  auto at_server = KeyMaterialFromTls(server_);
  auto at_client = KeyMaterialFromTls(client_);
  ASSERT_TRUE(at_server.ok()) << at_server.status();
  ASSERT_TRUE(at_client.ok()) << at_client.status();
  EXPECT_EQ(at_server->tls_version, GetParam());
  EXPECT_FALSE(at_server->session_id.empty());
  EXPECT_TRUE(at_server->key.Equals(at_client->key));
  EXPECT_EQ(at_server->session_id, at_client->session_id);
  std::string p0 = "aef-1:443";
  auto a = DeriveAefPsk(at_server->key, p0, at_server->session_id);
  auto b = DeriveAefPsk(at_client->key, p0, at_client->session_id);
  EXPECT_TRUE(a->Equals(*b));
}

INSTANTIATE_TEST_SUITE_P(Tls12And13, TlsPairTest,
                         ::testing::Values(TLS1_2_VERSION, TLS1_3_VERSION));

TEST(AefPskTest, IncompleteHandshakeIsFailedPrecondition) {
  EXPECT_EQ(KeyMaterialFromTls(nullptr).status().code(), absl::StatusCode::kFailedPrecondition);
}

}  // namespace
}  // namespace capif
