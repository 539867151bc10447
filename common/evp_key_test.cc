#include "common/evp_key.h"

#include <gtest/gtest.h>

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
