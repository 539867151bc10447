#include "common/jws.h"

#include <gtest/gtest.h>
#include <openssl/hmac.h>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "common/base64url.h"
#include "common/fake_clock.h"
#include "common/testing/raw_jws.h"

namespace capif {
namespace {

using nlohmann::json;

constexpr int64_t kNow = 1700000000;

class JwsTest : public ::testing::Test {
 protected:
  JwsTest()
      : clock_(absl::FromUnixSeconds(kNow)),
        signer_(*JwsSigner::Create(*EvpKey::GenerateEcP256(), "k1")),
        validator_({"at+jwt", "ccf-a", "aef-1", true, absl::Seconds(30)}, clock_) {
    EXPECT_TRUE(jwks_.Add("k1", signer_.key()).ok());
  }

  json Claims() const {
    return {{"iss", "ccf-a"}, {"sub", "inv-1"},     {"client_id", "inv-1"}, {"aud", "aef-1"},
            {"iat", kNow},    {"exp", kNow + 600}, {"jti", "j-1"},         {"scope", "3gpp#aef-1:api"}};
  }
  std::string Header(const std::string& alg = "ES256", const std::string& typ = "at+jwt",
                     const std::string& kid = "k1") const {
    return json{{"alg", alg}, {"typ", typ}, {"kid", kid}}.dump();
  }
  absl::Status Check(const std::string& token) const {
    return validator_.Verify(token, jwks_).status();
  }

  FakeClock clock_;
  JwsSigner signer_;
  JwkSet jwks_;
  JwtValidator validator_;
};

TEST_F(JwsTest, SignedTokenVerifies) {
  auto token = signer_.Sign("at+jwt", Claims());
  ASSERT_TRUE(token.ok());
  auto jwt = validator_.Verify(*token, jwks_);
  ASSERT_TRUE(jwt.ok()) << jwt.status();
  EXPECT_EQ(jwt->claims["client_id"], "inv-1");
  EXPECT_EQ(jwt->header["kid"], "k1");
  // The signature segment is exactly 64 bytes.
  std::vector<std::string> parts = absl::StrSplit(*token, '.');
  EXPECT_EQ(Base64UrlDecode(parts[2])->size(), 64u);
}

TEST_F(JwsTest, AlgNoneIsRefused) {
  std::string token = Base64UrlEncode(json{{"alg", "none"}, {"typ", "at+jwt"}, {"kid", "k1"}}.dump()) +
                      "." + Base64UrlEncode(Claims().dump()) + ".";
  EXPECT_EQ(Check(token).code(), absl::StatusCode::kUnauthenticated);
}

TEST_F(JwsTest, Hs256SignedWithThePublicKeyIsRefused) {
  std::string pub = *signer_.key().PublicKeyPem();
  std::string input = Base64UrlEncode(Header("HS256")) + "." + Base64UrlEncode(Claims().dump());
  unsigned char mac[32];
  unsigned int mac_len = 0;
  HMAC(EVP_sha256(), pub.data(), static_cast<int>(pub.size()),
       reinterpret_cast<const unsigned char*>(input.data()), input.size(), mac, &mac_len);
  std::string token =
      input + "." + Base64UrlEncode(std::string(reinterpret_cast<char*>(mac), mac_len));
  absl::Status s = Check(token);
  EXPECT_EQ(s.code(), absl::StatusCode::kUnauthenticated);
  EXPECT_NE(s.message().find("alg"), absl::string_view::npos) << s;
}

TEST_F(JwsTest, WrongTypIsRefused) {
  EXPECT_FALSE(Check(SignRawJws(signer_.key(), Header("ES256", "JWT"), Claims().dump())).ok());
  EXPECT_FALSE(Check(*signer_.Sign("", Claims())).ok());  // typ missing
}

TEST_F(JwsTest, WrongOrArrayAudienceIsRefused) {
  json c = Claims();
  c["aud"] = "aef-2";
  EXPECT_FALSE(Check(*signer_.Sign("at+jwt", c)).ok());
  c["aud"] = json::array({"aef-1"});  // an array where a string is required
  EXPECT_FALSE(Check(*signer_.Sign("at+jwt", c)).ok());
  c.erase("aud");
  EXPECT_FALSE(Check(*signer_.Sign("at+jwt", c)).ok());
  // Where arrays are allowed, membership counts.
  JwtValidator lenient({"at+jwt", "ccf-a", "aef-1", false, absl::Seconds(30)}, clock_);
  c["aud"] = json::array({"aef-9", "aef-1"});
  EXPECT_TRUE(lenient.Verify(*signer_.Sign("at+jwt", c), jwks_).ok());
}

TEST_F(JwsTest, ExpiredAndNotYetValidAreRefusedWithLeeway) {
  std::string token = *signer_.Sign("at+jwt", Claims());
  clock_.Set(absl::FromUnixSeconds(kNow + 600 + 29));  // inside the 30 s leeway
  EXPECT_TRUE(Check(token).ok());
  clock_.Set(absl::FromUnixSeconds(kNow + 600 + 30));
  EXPECT_NE(Check(token).message().find("expired"), absl::string_view::npos);

  clock_.Set(absl::FromUnixSeconds(kNow - 31));  // iat in the future beyond leeway
  EXPECT_NE(Check(token).message().find("future"), absl::string_view::npos);
  clock_.Set(absl::FromUnixSeconds(kNow));
  json c = Claims();
  c["nbf"] = kNow + 120;
  EXPECT_NE(Check(*signer_.Sign("at+jwt", c)).message().find("not yet valid"),
            absl::string_view::npos);
  c = Claims();
  c.erase("exp");
  EXPECT_FALSE(Check(*signer_.Sign("at+jwt", c)).ok());
  c = Claims();
  c["exp"] = "tomorrow";
  EXPECT_FALSE(Check(*signer_.Sign("at+jwt", c)).ok());
}

TEST_F(JwsTest, TruncatedOrDerSignatureIsRefused) {
  std::string token = *signer_.Sign("at+jwt", Claims());
  std::vector<std::string> parts = absl::StrSplit(token, '.');
  std::string sig = *Base64UrlDecode(parts[2]);
  std::string truncated = parts[0] + "." + parts[1] + "." + Base64UrlEncode(sig.substr(0, 63));
  EXPECT_NE(Check(truncated).message().find("64 bytes"), absl::string_view::npos);
  std::string der = SignRawJws(signer_.key(), Header(), Claims().dump(), /*der_signature=*/true);
  EXPECT_NE(Check(der).message().find("64 bytes"), absl::string_view::npos);
  std::string flipped = sig;
  flipped[10] ^= 1;
  EXPECT_NE(Check(parts[0] + "." + parts[1] + "." + Base64UrlEncode(flipped))
                .message()
                .find("bad signature"),
            absl::string_view::npos);
}

TEST_F(JwsTest, UnknownKidIsRefused) {
  auto other = *JwsSigner::Create(*EvpKey::GenerateEcP256(), "k2");
  EXPECT_NE(Check(*other.Sign("at+jwt", Claims())).message().find("unknown kid"),
            absl::string_view::npos);
  // Same kid, different key: signature fails.
  auto impostor = *JwsSigner::Create(*EvpKey::GenerateEcP256(), "k1");
  EXPECT_FALSE(Check(*impostor.Sign("at+jwt", Claims())).ok());
}

// RFC 7523 client assertions need neither "typ" nor "kid": with typ_optional and kid_optional
// they verify without them against a set of one key; a wrong typ, an unknown kid, or no kid
// with several keys are still refused.
TEST_F(JwsTest, OptionalTypAndKidForAssertions) {
  JwtValidator::Options o;
  o.typ = "JWT";
  o.typ_optional = true;
  o.kid_optional = true;
  o.issuer = "ccf-a";
  o.audience = "aef-1";
  JwtValidator lenient(o, clock_);
  const std::string claims = Claims().dump();
  auto verify = [&](const json& header, const JwkSet& keys) {
    return lenient.Verify(SignRawJws(signer_.key(), header.dump(), claims), keys).status();
  };
  EXPECT_TRUE(verify({{"alg", "ES256"}}, jwks_).ok());
  EXPECT_TRUE(verify({{"alg", "ES256"}, {"typ", "jwt"}}, jwks_).ok());  // case-insensitive
  EXPECT_TRUE(verify({{"alg", "ES256"}, {"typ", "JWT"}, {"kid", "k1"}}, jwks_).ok());
  EXPECT_FALSE(verify({{"alg", "ES256"}, {"typ", "at+jwt"}}, jwks_).ok());
  EXPECT_FALSE(verify({{"alg", "ES256"}, {"typ", 1}}, jwks_).ok());
  EXPECT_NE(verify({{"alg", "ES256"}, {"kid", "k9"}}, jwks_).message().find("unknown kid"),
            absl::string_view::npos);
  JwkSet two = jwks_;
  ASSERT_TRUE(two.Add("k2", *EvpKey::GenerateEcP256()).ok());
  EXPECT_NE(verify({{"alg", "ES256"}}, two).message().find("kid is missing"),
            absl::string_view::npos);
  EXPECT_TRUE(verify({{"alg", "ES256"}, {"kid", "k1"}}, two).ok());
  // The strict validator (access tokens) still wants both.
  EXPECT_FALSE(
      Check(SignRawJws(signer_.key(), json{{"alg", "ES256"}, {"kid", "k1"}}.dump(), claims)).ok());
  EXPECT_FALSE(
      Check(SignRawJws(signer_.key(), json{{"alg", "ES256"}, {"typ", "at+jwt"}}.dump(), claims)).ok());
}

TEST_F(JwsTest, DuplicateClaimsOrHeadersAreRefused) {
  std::string claims = Claims().dump();
  claims.insert(1, "\"sub\":\"inv-evil\",");  // a second "sub"
  EXPECT_NE(Check(SignRawJws(signer_.key(), Header(), claims)).message().find("duplicate"),
            absl::string_view::npos);
  std::string header = R"({"alg":"ES256","typ":"at+jwt","kid":"k1","alg":"none"})";
  EXPECT_FALSE(Check(SignRawJws(signer_.key(), header, Claims().dump())).ok());
}

TEST_F(JwsTest, MalformedTokensAreRefused) {
  for (const std::string t : {"", "a.b", "a.b.c.d", "!!!.e30.AAAA", "e30.e30.AAAA="}) {
    EXPECT_EQ(Check(t).code(), absl::StatusCode::kUnauthenticated) << t;
  }
  EXPECT_FALSE(Check(SignRawJws(signer_.key(), Header(), "[1,2]")).ok());
  json h = json::parse(Header());
  h["crit"] = json::array({"exp"});
  EXPECT_FALSE(Check(SignRawJws(signer_.key(), h.dump(), Claims().dump())).ok());
}

TEST_F(JwsTest, WrongIssuerIsRefused) {
  json c = Claims();
  c["iss"] = "ccf-b";
  EXPECT_NE(Check(*signer_.Sign("at+jwt", c)).message().find("issuer"), absl::string_view::npos);
}

TEST_F(JwsTest, JwkSetRoundTripsAndRefusesBadKeys) {
  std::string text = jwks_.ToJson().dump();
  auto parsed = JwkSet::FromJson(text);
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  EXPECT_TRUE(validator_.Verify(*signer_.Sign("at+jwt", Claims()), *parsed).ok());
  EXPECT_EQ(jwks_.ToJson()["keys"][0].count("d"), 0u);  // never the private part

  json bad = jwks_.ToJson();
  bad["keys"][0]["alg"] = "HS256";
  EXPECT_FALSE(JwkSet::FromJson(bad.dump()).ok());
  bad = jwks_.ToJson();
  bad["keys"][0]["y"] = bad["keys"][0]["x"];  // not on the curve
  EXPECT_FALSE(JwkSet::FromJson(bad.dump()).ok());
  bad = jwks_.ToJson();
  bad["keys"].push_back(bad["keys"][0]);  // duplicate kid
  EXPECT_FALSE(JwkSet::FromJson(bad.dump()).ok());
  EXPECT_FALSE(JwkSet::FromJson(R"({"keys":[{"kty":"RSA","kid":"r"}]})").ok());
}

TEST_F(JwsTest, RotationKeepsOldTokensValid) {
  std::string old_token = *signer_.Sign("at+jwt", Claims());
  auto next = *JwsSigner::Create(*EvpKey::GenerateEcP256(), "k2");
  ASSERT_TRUE(jwks_.Add("k2", next.key()).ok());
  EXPECT_TRUE(Check(old_token).ok());
  EXPECT_TRUE(Check(*next.Sign("at+jwt", Claims())).ok());
}

TEST(EcdsaSignatureTest, RawDerRoundTrip) {
  std::string raw(64, '\0');
  raw[31] = 1;   // r = 1
  raw[63] = 2;   // s = 2
  auto der = EcdsaRawToDer(raw);
  ASSERT_TRUE(der.ok());
  EXPECT_EQ(*EcdsaDerToRaw(*der), raw);
  EXPECT_FALSE(EcdsaRawToDer(raw.substr(1)).ok());
  EXPECT_FALSE(EcdsaDerToRaw("garbage").ok());
}

}  // namespace
}  // namespace capif
