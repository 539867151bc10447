#include "common/evp_key.h"

#include <gtest/gtest.h>
#include <openssl/evp.h>

namespace capif {
namespace {

TEST(EvpKeyTest, PemRoundTrip) {
  auto key = EvpKey::GenerateEcP256();
  ASSERT_TRUE(key.ok()) << key.status();
  auto priv = key->PrivateKeyPem();
  ASSERT_TRUE(priv.ok());
  EXPECT_NE(priv->Reveal(InsecureSecretAccess()).find("BEGIN PRIVATE KEY"),
            absl::string_view::npos);
  auto again = EvpKey::FromPrivateKeyPem(*priv);
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_TRUE(again->PublicKeyEquals(*key));

  auto pub = EvpKey::FromPublicKeyPem(*key->PublicKeyPem());
  ASSERT_TRUE(pub.ok());
  EXPECT_TRUE(pub->PublicKeyEquals(*key));
  EXPECT_FALSE(pub->PublicKeyEquals(*EvpKey::GenerateEcP256()));
}

TEST(EvpKeyTest, GarbageIsInvalidArgument) {
  EXPECT_EQ(EvpKey::FromPrivateKeyPem(SecretBytes("not a key")).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(EvpKey::FromPublicKeyPem("-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n")
                .status()
                .code(),
            absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace capif

namespace capif {
namespace {

EvpKey Generate(const char* algorithm, const char* curve_or_null, unsigned bits = 0) {
  EVP_PKEY* raw = nullptr;
  if (curve_or_null != nullptr) {
    raw = EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", curve_or_null);
  } else if (bits != 0) {
    raw = EVP_PKEY_Q_keygen(nullptr, nullptr, "RSA", static_cast<size_t>(bits));
  } else {
    raw = EVP_PKEY_Q_keygen(nullptr, nullptr, algorithm);
  }
  EXPECT_NE(raw, nullptr) << algorithm;
  return EvpKey(raw);
}

// The CA certifies strong keys only: a party cannot get a certificate for RSA-1024 or an
// unusual curve, and a giant RSA key is refused before anyone verifies with it.
TEST(EvpKeyTest, OnlyStrongKeysAreCertifiable) {
  EXPECT_TRUE(Generate("EC", "P-256").CheckCertifiable().ok());
  EXPECT_TRUE(Generate("EC", "P-384").CheckCertifiable().ok());
  EXPECT_TRUE(Generate("RSA", nullptr, 2048).CheckCertifiable().ok());
  EXPECT_TRUE(Generate("ED25519", nullptr).CheckCertifiable().ok());
  absl::Status weak = Generate("RSA", nullptr, 1024).CheckCertifiable();
  EXPECT_EQ(weak.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(weak.message().find("1024 bits"), absl::string_view::npos) << weak;
  absl::Status curve = Generate("EC", "secp256k1").CheckCertifiable();
  EXPECT_EQ(curve.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(curve.message().find("secp256k1"), absl::string_view::npos) << curve;
  EXPECT_EQ(Generate("X25519", nullptr).CheckCertifiable().code(),
            absl::StatusCode::kInvalidArgument);  // a key-agreement key, not a signing key
}

}  // namespace
}  // namespace capif
