#include "ccf/api/access_control_policy_api.h"

#include <gtest/gtest.h>

#include "ccf/testing/ccf_world.h"

namespace capif {
namespace {

using nlohmann::json;

class AccessControlPolicyTest : public ::testing::Test {
 protected:
  AccessControlPolicyTest()
      : w_(::testing::UnitTest::GetInstance()->current_test_info()->name()),
        api_({&w_.providers, &w_.service_apis, w_.contexts.get(), &w_.grants, &w_.ca, &w_.clock}) {
    p_ = w_.RegisterProvider();
    q_ = w_.RegisterProvider();
    api_id_ =
        w_.Publish(p_.apf_id, CcfWorld::SampleApi("location-query", p_.aef_id, {"PKI"}))["apiId"];
    other_api_ = w_.Publish(p_.apf_id, CcfWorld::SampleApi("other", p_.aef_id, {"PKI"}))["apiId"];
  }
  absl::StatusOr<RestResponse> Ask(const std::string& caller, const std::string& api_id,
                                   const std::string& aef_id, const std::string& invoker = "") {
    RestRequest r = w_.As("aef", caller);
    r.path_params = {api_id};
    if (!aef_id.empty()) r.query.emplace("aef-id", aef_id);
    if (!invoker.empty()) r.query.emplace("api-invoker-id", invoker);
    return api_.Get(r);
  }
  // The invoker ids of a 200 answer, in order.
  std::vector<std::string> Invokers(const absl::StatusOr<RestResponse>& res) {
    std::vector<std::string> out;
    EXPECT_TRUE(res.ok() && res->status == 200) << (res.ok() ? res->body : res.status().ToString());
    if (!res.ok()) return out;
    json doc = json::parse(res->body);  // named: the loop must not outlive it
    for (const json& p : doc["apiInvokerPolicies"]) out.push_back(p["apiInvokerId"]);
    return out;
  }
  void Authorize(const std::string& invoker, const std::string& aef_id) {
    RestRequest r =
        w_.As("invoker", invoker,
              {{"notificationDestination", "https://i.example/cb"},
               {"securityInfo", {{{"aefId", aef_id}, {"prefSecurityMethods", {"PKI"}}}}}});
    r.path_params = {invoker};
    ASSERT_EQ(CcfWorld::HttpStatus(w_.security_api->Create(r)), 201);
  }

  CcfWorld w_;
  AccessControlPolicyApi api_;
  CcfWorld::Provider p_, q_;
  std::string api_id_, other_api_;
};

// The invokers authorized for an API at an AEF: local ones by their security context, a peer's
// by the grant its home obtained (while it stands); nobody else, and only for that AEF.
TEST_F(AccessControlPolicyTest, ListsLocalAndForeignInvokersAuthorizedForTheApi) {
  EXPECT_TRUE(Invokers(Ask(p_.aef_id, api_id_, p_.aef_id)).empty());
  auto alice = w_.OnboardInvoker();
  auto bob = w_.OnboardInvoker();  // onboarded, never authorized
  Authorize(alice.id, p_.aef_id);
  RemoteGrant foreign{"ccf-b", "inv-of-b",     p_.aef_id,   api_id_,
                      "OAUTH", w_.clock.Now(), std::nullopt};
  ASSERT_TRUE(w_.grants.Put(foreign).ok());
  RemoteGrant lapsed{"ccf-b",
                     "inv-lapsed",
                     p_.aef_id,
                     api_id_,
                     "OAUTH",
                     w_.clock.Now(),
                     w_.clock.Now() - absl::Seconds(1)};  // its lease ended unconfirmed
  ASSERT_TRUE(w_.grants.Put(lapsed).ok());
  RemoteGrant elsewhere{"ccf-b", "inv-other-api", p_.aef_id,   other_api_,
                        "OAUTH", w_.clock.Now(),  std::nullopt};
  ASSERT_TRUE(w_.grants.Put(elsewhere).ok());

  auto res = Ask(p_.aef_id, api_id_, p_.aef_id);
  std::vector<std::string> got = Invokers(res);
  std::vector<std::string> want = {alice.id, "inv-of-b"};
  std::sort(want.begin(), want.end());
  EXPECT_EQ(got, want);
  json first = json::parse(res->body)["apiInvokerPolicies"][0];
  ASSERT_TRUE(first["allowedInvocationTimeRangeList"].is_array());
  EXPECT_TRUE(first["allowedInvocationTimeRangeList"][0]["startTime"].is_string());
  EXPECT_FALSE(first.contains("allowedTotalInvocations"));  // no limit configured
  // Filtered to one invoker.
  EXPECT_EQ(Invokers(Ask(p_.aef_id, api_id_, p_.aef_id, "inv-of-b")),
            std::vector<std::string>{"inv-of-b"});
  EXPECT_TRUE(Invokers(Ask(p_.aef_id, api_id_, p_.aef_id, bob.id)).empty());
  // Alice's context covers every API of the AEF it named; the foreign grant only its own.
  EXPECT_EQ(Invokers(Ask(p_.aef_id, other_api_, p_.aef_id)),
            (std::vector<std::string>{alice.id, "inv-other-api"}));
}

TEST_F(AccessControlPolicyTest, OnlyThatRegisteredAefAsksAboutItsOwnApis) {
  EXPECT_EQ(CcfWorld::HttpStatus(Ask(p_.aef_id, api_id_, "")), 400);
  EXPECT_EQ(CcfWorld::HttpStatus(Ask(q_.aef_id, api_id_, p_.aef_id)), 403);  // another AEF
  EXPECT_EQ(CcfWorld::HttpStatus(Ask(q_.aef_id, api_id_, q_.aef_id)), 404);  // not its API
  EXPECT_EQ(CcfWorld::HttpStatus(Ask(p_.aef_id, "api-nope", p_.aef_id)), 404);
  RestRequest invoker = w_.As("invoker", "inv-x");
  invoker.path_params = {api_id_};
  invoker.query.emplace("aef-id", p_.aef_id);
  EXPECT_EQ(CcfWorld::HttpStatus(api_.Get(invoker)), 403);
  RestRequest anonymous = invoker;
  anonymous.caller.reset();
  EXPECT_EQ(CcfWorld::HttpStatus(api_.Get(anonymous)), 401);
}

}  // namespace
}  // namespace capif
