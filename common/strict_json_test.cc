#include "common/strict_json.h"

#include <gtest/gtest.h>

namespace capif {
namespace {

TEST(StrictJsonTest, ParsesOrdinaryJson) {
  auto j = ParseStrictJson(R"({"a":1,"b":{"a":2},"c":[{"a":3},{"a":4}]})");
  ASSERT_TRUE(j.ok()) << j.status();
  EXPECT_EQ((*j)["c"][1]["a"], 4);  // the same name in sibling objects is fine
}

TEST(StrictJsonTest, RefusesDuplicateNamesAtAnyDepth) {
  EXPECT_FALSE(ParseStrictJson(R"({"a":1,"a":2})").ok());
  auto nested = ParseStrictJson(R"({"x":{"b":1,"b":1}})");
  ASSERT_FALSE(nested.ok());
  EXPECT_NE(nested.status().message().find("duplicate"), absl::string_view::npos);
  EXPECT_FALSE(ParseStrictJson(R"([{"k":1},{"k":1,"k":2}])").ok());
}

TEST(StrictJsonTest, RefusesMalformedAndTooDeep) {
  EXPECT_FALSE(ParseStrictJson("{").ok());
  EXPECT_FALSE(ParseStrictJson("{\"a\":1} trailing").ok());
  EXPECT_FALSE(ParseStrictJson("").ok());
  EXPECT_TRUE(ParseStrictJson("[[[1]]]", 4).ok());
  EXPECT_FALSE(ParseStrictJson("[[[[[1]]]]]", 4).ok());
}

}  // namespace
}  // namespace capif
