#include "ccf/local_ccf_state.h"

#include <gtest/gtest.h>

#include "ccf/testing/ccf_world.h"

namespace capif {
namespace {

using nlohmann::json;

TEST(LocalCcfStateTest, SharesOnlyWhatTheAgreementAndShareableInfoAllow) {
  CcfWorld w("LocalCcfStateTest");
  LocalCcfState state("ccf-a", &w.invokers, &w.resources, w.keyring.get());
  auto p = w.RegisterProvider();
  auto shared = CcfWorld::SampleApi("location-query", p.aef_id);
  shared["shareableInfo"] = {{"isShareable", true}};
  auto private_api = CcfWorld::SampleApi("qos", p.aef_id);  // isShareable false
  private_api["shareableInfo"] = {{"isShareable", false}};
  auto only_c = CcfWorld::SampleApi("only-c", p.aef_id);
  only_c["shareableInfo"] = {{"isShareable", true}, {"capifProvDoms", {"c.example"}}};
  auto not_agreed = CcfWorld::SampleApi("not-agreed", p.aef_id);
  not_agreed["shareableInfo"] = {{"isShareable", true}};
  for (const json& api : {shared, private_api, only_c, not_agreed}) w.Publish(p.apf_id, api);

  Peer b{CcfId("ccf-b"), TrustDomain("b.example"), "x:1", {}, PeerRelation::kCapif6e, {}};
  b.agreement.shared_apis = {"location-query", "qos", "only-c"};
  auto apis = state.ShareableApis(b, "");
  ASSERT_TRUE(apis.ok()) << apis.status();
  ASSERT_EQ(apis->size(), 1u);
  json a = json::parse((*apis)[0]);
  EXPECT_EQ(a["apiName"], "location-query");
  EXPECT_EQ(a["ccfId"], "ccf-a");
  EXPECT_TRUE(state.ShareableApis(b, "qos")->empty());

  Peer c{CcfId("ccf-c"), TrustDomain("c.example"), "x:2", {}, PeerRelation::kCapif6e, {}};
  c.agreement.shared_apis = {"only-c"};
  EXPECT_EQ(state.ShareableApis(c, "")->size(), 1u);
}

TEST(LocalCcfStateTest, OwnershipAndJwks) {
  CcfWorld w("LocalCcfStateOwnership");
  LocalCcfState state("ccf-a", &w.invokers, &w.resources, w.keyring.get());
  auto inv = w.OnboardInvoker();
  EXPECT_TRUE(*state.OwnsInvoker(inv.id));
  EXPECT_FALSE(*state.OwnsInvoker("inv-unknown"));
  auto jwks = JwkSet::FromJson(state.JwksJson());
  ASSERT_TRUE(jwks.ok()) << jwks.status();
  EXPECT_EQ(jwks->size(), 1u);
}

}  // namespace
}  // namespace capif
