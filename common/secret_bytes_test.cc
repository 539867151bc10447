#include "common/secret_bytes.h"

#include <gtest/gtest.h>

#include <type_traits>
#include <utility>

namespace capif {
namespace {

TEST(SecretBytesTest, EqualsComparesContentAndLength) {
  SecretBytes a("abc"), b("abc"), c("abd"), d("ab");
  EXPECT_TRUE(a.Equals(b));
  EXPECT_FALSE(a.Equals(c));
  EXPECT_FALSE(a.Equals(d));
  EXPECT_TRUE(SecretBytes().Equals(SecretBytes("")));
}

TEST(SecretBytesTest, RandomHasSizeAndDiffers) {
  SecretBytes a = SecretBytes::Random(32), b = SecretBytes::Random(32);
  EXPECT_EQ(a.size(), 32u);
  EXPECT_FALSE(a.Equals(b));
}

TEST(SecretBytesTest, MoveLeavesSourceEmpty) {
  SecretBytes a("key material");
  SecretBytes b(std::move(a));
  EXPECT_TRUE(a.empty());  // NOLINT(bugprone-use-after-move): the contract under test
  EXPECT_EQ(b.Reveal(InsecureSecretAccess()), "key material");
  SecretBytes c;
  c = std::move(b);
  EXPECT_TRUE(b.empty());  // NOLINT(bugprone-use-after-move)
  EXPECT_EQ(c.size(), 12u);
}

TEST(SecretBytesTest, CopyIsIndependent) {
  SecretBytes a("k1");
  SecretBytes b = a;
  b = SecretBytes("k2");
  EXPECT_EQ(a.Reveal(InsecureSecretAccess()), "k1");
  EXPECT_EQ(b.Reveal(InsecureSecretAccess()), "k2");
}

// No implicit way to turn a secret into a string.
static_assert(!std::is_convertible<SecretBytes, std::string>::value, "");
static_assert(!std::is_convertible<SecretBytes, absl::string_view>::value, "");

}  // namespace
}  // namespace capif
