#include "common/ids.h"

#include <gtest/gtest.h>

#include "absl/container/flat_hash_set.h"

namespace capif {
namespace {

TEST(SpiffeIdTest, ParsesEachKind) {
  auto id = SpiffeId::Parse("spiffe://operator-a.example/ccf/ccf-a");
  ASSERT_TRUE(id.ok()) << id.status();
  EXPECT_EQ(id->trust_domain().value(), "operator-a.example");
  EXPECT_EQ(id->kind(), SpiffeId::Kind::kCcf);
  EXPECT_EQ(id->id(), "ccf-a");
  EXPECT_EQ(id->ToString(), "spiffe://operator-a.example/ccf/ccf-a");
  EXPECT_EQ(SpiffeId::Parse("spiffe://b.example/aef/aef_1")->kind(), SpiffeId::Kind::kAef);
  EXPECT_EQ(SpiffeId::Parse("spiffe://b.example/invoker/INV.9")->kind(),
            SpiffeId::Kind::kInvoker);
}

TEST(SpiffeIdTest, RejectsMalformed) {
  for (const char* bad : {
           "",
           "https://a.example/ccf/x",
           "spiffe://",
           "spiffe://a.example",
           "spiffe://a.example/ccf",
           "spiffe://a.example/ccf/",
           "spiffe://a.example/ccf/x/y",
           "spiffe://A.example/ccf/x",     // upper-case trust domain
           "spiffe://a.example/robot/x",   // unknown kind
           "spiffe://a.example/ccf/..",    // path traversal
           "spiffe://a.example/ccf/x y",   // space
           "spiffe://a.example:443/ccf/x"  // port
       }) {
    EXPECT_FALSE(SpiffeId::Parse(bad).ok()) << bad;
  }
}

TEST(SpiffeIdTest, CreateValidatesAndEquals) {
  auto a = SpiffeId::Create(TrustDomain("x.example"), SpiffeId::Kind::kAef, "aef-1");
  ASSERT_TRUE(a.ok());
  EXPECT_EQ(*a, *SpiffeId::Parse("spiffe://x.example/aef/aef-1"));
  EXPECT_NE(*a, *SpiffeId::Parse("spiffe://x.example/ccf/aef-1"));
  EXPECT_FALSE(SpiffeId::Create(TrustDomain("x.example"), SpiffeId::Kind::kAef, "a/b").ok());
}

TEST(StrongIdTest, DistinctTypesHashAndCompare) {
  absl::flat_hash_set<CcfId> set = {CcfId("a"), CcfId("b"), CcfId("a")};
  EXPECT_EQ(set.size(), 2u);
  EXPECT_TRUE(CcfId("a") < CcfId("b"));
  static_assert(!std::is_convertible<CcfId, AefId>::value, "ids must not convert");
}

}  // namespace
}  // namespace capif
