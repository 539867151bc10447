#include "common/base64url.h"

#include <gtest/gtest.h>

namespace capif {
namespace {

TEST(Base64UrlTest, Rfc4648Vectors) {
  // RFC 4648 section 10 vectors, without padding.
  const std::pair<const char*, const char*> kVectors[] = {
      {"", ""}, {"f", "Zg"}, {"fo", "Zm8"}, {"foo", "Zm9v"}, {"foob", "Zm9vYg"},
      {"fooba", "Zm9vYmE"}, {"foobar", "Zm9vYmFy"}};
  for (const auto& [plain, encoded] : kVectors) {
    EXPECT_EQ(Base64UrlEncode(plain), encoded);
    EXPECT_EQ(*Base64UrlDecode(encoded), plain);
  }
  EXPECT_EQ(Base64UrlEncode("\xfb\xff"), "-_8");  // the URL-safe characters
}

TEST(Base64UrlTest, StrictDecoding) {
  EXPECT_FALSE(Base64UrlDecode("Zg==").ok());   // padding
  EXPECT_FALSE(Base64UrlDecode("+/8").ok());    // standard alphabet
  EXPECT_FALSE(Base64UrlDecode("Zm 9v").ok());  // whitespace
  EXPECT_FALSE(Base64UrlDecode("Z").ok());      // impossible length
  EXPECT_FALSE(Base64UrlDecode("Zh").ok());     // non-zero trailing bits
}

}  // namespace
}  // namespace capif
