// The CCF's rules, each once: AEF lookup, method selection, scope authorization.
#include <gtest/gtest.h>

#include "ccf/core/aef_directory.h"
#include "ccf/core/scope_authorization.h"
#include "ccf/core/security_methods.h"

namespace capif {
namespace {

using nlohmann::json;

std::vector<json> Apis() {
  json iface = {{"ipv4Addr", "127.0.0.1"}, {"port", 8443}, {"securityMethods", {"PSK", "PKI"}}};
  return {
      {{"apiId", "api-1"}, {"apiName", "location"},
       {"aefProfiles", {{{"aefId", "aef-1"}, {"interfaceDescriptions", {iface}}}}}},
      {{"apiId", "api-2"}, {"apiName", "qos"}, {"ccfId", "ccf-a"},
       {"aefProfiles", {{{"aefId", "aef-1"}, {"securityMethods", {"OAUTH"}}},
                        {{"aefId", "aef-2"}, {"securityMethods", {"OAUTH", 7}}}}}},
      "not an object",
      {{"apiId", "api-3"}, {"aefProfiles", "not an array"}},
  };
}

TEST(AefDirectoryTest, FindsAnAefByIdOrInterfaceInEveryApiThatHasIt) {
  auto m = FindAefProfile(Apis(), AefSelector::ById("aef-1"), "");
  ASSERT_TRUE(m.has_value());
  EXPECT_EQ(m->api_ids, (std::vector<std::string>{"api-1", "api-2"}));
  EXPECT_EQ(m->api_name, "location");
  EXPECT_TRUE(m->interface.is_null());
  auto only = FindAefProfile(Apis(), AefSelector::ById("aef-1"), "api-2");
  ASSERT_TRUE(only.has_value());
  EXPECT_EQ(only->api_ids, std::vector<std::string>{"api-2"});
  EXPECT_EQ(only->ccf_id, "ccf-a");
  auto by_if = FindAefProfile(Apis(), AefSelector::ByInterface({{"ipv4Addr", "127.0.0.1"}, {"port", 8443}}), "");
  ASSERT_TRUE(by_if.has_value());
  EXPECT_EQ(by_if->profile["aefId"], "aef-1");
  EXPECT_EQ(by_if->interface["port"], 8443);
  EXPECT_FALSE(FindAefProfile(Apis(), AefSelector::ByInterface({{"port", 8443}}), ""));
  EXPECT_FALSE(FindAefProfile(Apis(), AefSelector::ById("aef-9"), ""));
  EXPECT_FALSE(FindAefProfile(Apis(), AefSelector::ById("aef-2"), "api-1"));
}

TEST(AefDirectoryTest, MethodsAndAddress) {
  auto apis = Apis();
  EXPECT_EQ(AefSecurityMethods(apis[0]["aefProfiles"][0]), (std::vector<std::string>{"PSK", "PKI"}));
  EXPECT_EQ(AefSecurityMethods(apis[1]["aefProfiles"][1]), std::vector<std::string>{"OAUTH"});
  EXPECT_TRUE(AefSecurityMethods(json("x")).empty());
  auto root = AefApiRoot(apis, "aef-1");
  ASSERT_TRUE(root.ok()) << root.status();
  EXPECT_EQ(*root, "https://127.0.0.1:8443");
  EXPECT_EQ(AefApiRoot(apis, "aef-2").status().code(), absl::StatusCode::kNotFound);
}

TEST(SecurityMethodsTest, PolicyPriorityOverWhatBothSidesAccept) {
  std::vector<std::string> priority = {"PSK", "PKI", "OAUTH"};
  EXPECT_EQ(SelectSecurityMethod({"PKI", "OAUTH"}, {"OAUTH", "PKI"}, priority), "PKI");
  EXPECT_EQ(SelectSecurityMethod({"PKI", "OAUTH"}, {"OAUTH"}, priority), "OAUTH");
  EXPECT_EQ(SelectSecurityMethod({"PSK"}, {"OAUTH"}, priority), "");
  EXPECT_EQ(SelectSecurityMethod({"PSK", "OAUTH"}, {"PSK", "OAUTH"}, {"OAUTH", "PSK"}), "OAUTH");
}

TEST(ScopeAuthorizationTest, EveryAefAndApiMustBeGranted) {
  auto granted = [](const std::string& aef) -> absl::StatusOr<std::set<std::string>> {
    if (aef == "aef-1") return std::set<std::string>{"location", "qos"};
    if (aef == "broken") return absl::UnavailableError("database busy");
    return std::set<std::string>{};
  };
  auto ok = AuthorizeScope(*ParseCapifScope("3gpp#aef-1:location,qos"), granted);
  ASSERT_TRUE(ok.ok()) << ok.status();
  EXPECT_EQ(*ok, std::vector<std::string>{"aef-1"});
  auto other_api = AuthorizeScope(*ParseCapifScope("3gpp#aef-1:billing"), granted);
  EXPECT_EQ(other_api.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(other_api.status().message().find("billing"), std::string::npos);
  auto two = AuthorizeScope(*ParseCapifScope("3gpp#aef-1:location;aef-2:x"), granted);
  EXPECT_EQ(two.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(AuthorizeScope(*ParseCapifScope("3gpp#broken:x"), granted).status().code(),
            absl::StatusCode::kUnavailable);
}

}  // namespace
}  // namespace capif
