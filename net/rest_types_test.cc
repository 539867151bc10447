#include "net/rest_types.h"

#include <nlohmann/json.hpp>

#include "gtest/gtest.h"

namespace capif {
namespace {

using nlohmann::json;

json InvalidParams(const absl::Status& status) {
  auto [http, problem] = ProblemFromStatus(status);
  EXPECT_EQ(http, 400);
  EXPECT_EQ(problem["cause"], "INVALID_PARAMETER");
  return problem["invalidParams"];
}

TEST(RestTypesTest, BodyAttributesAreNamedByJsonPointer) {
  EXPECT_EQ(AttributePointer("securityInfo[0].prefSecurityMethods"),
            "/securityInfo/0/prefSecurityMethods");
  EXPECT_EQ(AttributePointer("aefProfiles[1].interfaceDescriptions[12].port"),
            "/aefProfiles/1/interfaceDescriptions/12/port");
  EXPECT_EQ(AttributePointer("apiName"), "/apiName");
  EXPECT_EQ(AttributePointer("odd~na/me"), "/odd~0na~1me");  // RFC 6901 escapes
  json p = InvalidParams(InvalidParamError("securityInfo[0].prefSecurityMethods", "x"));
  ASSERT_EQ(p.size(), 1u);
  EXPECT_EQ(p[0]["param"], "/securityInfo/0/prefSecurityMethods");
  EXPECT_EQ(p[0]["reason"], "x");
  // RestError's own invalid parameters too.
  p = InvalidParams(RestError(400, "d", "INVALID_PARAMETER", {{"a.b", "why"}}));
  EXPECT_EQ(p[0]["param"], "/a/b");
}

TEST(RestTypesTest, QueryParametersKeepTheirName) {
  json p = InvalidParams(InvalidQueryParamError("api-invoker-id", "is required"));
  EXPECT_EQ(p[0]["param"], "api-invoker-id");
}

TEST(RestTypesTest, RequiredMemberTellsMissingFromWrongTypedFromEmpty) {
  json body = json::parse(R"({"s": "x", "n": 5, "a": [], "o": {}, "e": "", "b": true})");
  struct Case {
    const char* key;
    JsonType type;
    bool non_empty;
    const char* reason;  // nullptr: accepted
  } cases[] = {
      {"s", JsonType::kString, true, nullptr},
      {"b", JsonType::kBoolean, false, nullptr},
      {"o", JsonType::kObject, false, nullptr},
      {"a", JsonType::kArray, false, nullptr},
      {"missing", JsonType::kString, false, "is required"},
      {"n", JsonType::kString, false, "must be a string"},
      {"s", JsonType::kBoolean, false, "must be a boolean"},
      {"a", JsonType::kObject, false, "must be an object"},
      {"o", JsonType::kArray, false, "must be an array"},
      {"a", JsonType::kArray, true, "must not be empty"},
      {"e", JsonType::kString, true, "must not be empty"},
  };
  for (const Case& c : cases) {
    auto got = RequiredMember(body, c.key, "top[3].", c.type, c.non_empty);
    if (c.reason == nullptr) {
      ASSERT_TRUE(got.ok()) << c.key << ": " << got.status();
      EXPECT_EQ(*got, &body[c.key]);
      continue;
    }
    ASSERT_FALSE(got.ok()) << c.key;
    json p = InvalidParams(got.status());
    EXPECT_EQ(p[0]["param"], std::string("/top/3/") + c.key);
    EXPECT_EQ(p[0]["reason"], c.reason) << c.key;
  }
}

}  // namespace
}  // namespace capif
