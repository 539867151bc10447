#include <gtest/gtest.h>

#include "ccf/testing/ccf_world.h"

namespace capif {
namespace {

using nlohmann::json;

class PublishDiscoverTest : public ::testing::Test {
 protected:
  PublishDiscoverTest()
      : world_(::testing::UnitTest::GetInstance()->current_test_info()->name()) {}

  RestRequest ApfRequest(const std::string& caller_apf, const std::string& path_apf,
                         const json& body = nullptr, const std::string& api_id = "") {
    RestRequest r = world_.As("apf", caller_apf, body);
    r.path_params = {path_apf};
    if (!api_id.empty()) r.path_params.push_back(api_id);
    return r;
  }
  RestRequest DiscoverAs(const std::string& caller, const std::string& invoker_id,
                         std::multimap<std::string, std::string> filters = {}) {
    RestRequest r = world_.As("invoker", caller);
    r.query = std::move(filters);
    if (!invoker_id.empty()) r.query.emplace("api-invoker-id", invoker_id);
    return r;
  }

  CcfWorld world_;
};

TEST_F(PublishDiscoverTest, PublishGetReplaceUnpublish) {
  auto p = world_.RegisterProvider();
  json api = CcfWorld::SampleApi("location-query", p.aef_id);
  auto created = world_.publish_api.Publish(ApfRequest(p.apf_id, p.apf_id, api));
  ASSERT_TRUE(created.ok()) << created.status();
  EXPECT_EQ(created->status, 201);
  std::string id = json::parse(created->body)["apiId"];
  EXPECT_EQ(created->headers[0].second,
            "https://ccf.example/published-apis/v1/" + p.apf_id + "/service-apis/" + id);

  auto got = world_.publish_api.Get(ApfRequest(p.apf_id, p.apf_id, nullptr, id));
  ASSERT_TRUE(got.ok());
  EXPECT_EQ(json::parse(got->body)["apiName"], "location-query");
  EXPECT_EQ(json::parse(world_.publish_api.List(ApfRequest(p.apf_id, p.apf_id))->body).size(), 1u);

  api["description"] = "v2";
  auto replaced = world_.publish_api.Replace(ApfRequest(p.apf_id, p.apf_id, api, id));
  ASSERT_TRUE(replaced.ok()) << replaced.status();
  EXPECT_EQ(json::parse(replaced->body)["description"], "v2");
  EXPECT_EQ(json::parse(replaced->body)["apiId"], id);

  EXPECT_EQ(CcfWorld::HttpStatus(world_.publish_api.Unpublish(ApfRequest(p.apf_id, p.apf_id, nullptr, id))), 204);
  EXPECT_EQ(CcfWorld::HttpStatus(world_.publish_api.Get(ApfRequest(p.apf_id, p.apf_id, nullptr, id))), 404);
}

TEST_F(PublishDiscoverTest, PublishRefusesOtherApfsForeignAefsAndBadBodies) {
  auto p = world_.RegisterProvider();
  auto q = world_.RegisterProvider();
  json api = CcfWorld::SampleApi("x", p.aef_id);
  // Another APF, or an APF using the path of another.
  EXPECT_EQ(CcfWorld::HttpStatus(world_.publish_api.Publish(ApfRequest(q.apf_id, p.apf_id, api))), 403);
  // An AEF of another provider domain.
  EXPECT_EQ(CcfWorld::HttpStatus(world_.publish_api.Publish(ApfRequest(q.apf_id, q.apf_id, api))), 403);
  RestRequest no_cert = ApfRequest(p.apf_id, p.apf_id, api);
  no_cert.caller.reset();
  EXPECT_EQ(CcfWorld::HttpStatus(world_.publish_api.Publish(no_cert)), 401);

  struct Case {
    std::function<void(json&)> mutate;
    std::string param;
  } cases[] = {
      {[](json& a) { a.erase("apiName"); }, "/apiName"},
      {[](json& a) { a["aefProfiles"] = json::array(); }, "/aefProfiles"},
      {[](json& a) { a["aefProfiles"][0].erase("versions"); }, "/aefProfiles/0/versions"},
      {[](json& a) { a["aefProfiles"][0]["domainName"] = "d.example"; }, "/aefProfiles/0"},
      {[](json& a) { a["aefProfiles"][0]["securityMethods"] = {"TLS"}; },
       "/aefProfiles/0/securityMethods"},
      {[](json& a) { a["aefProfiles"][0]["interfaceDescriptions"][0]["port"] = 70000; },
       "/aefProfiles/0/interfaceDescriptions/0/port"},
      {[](json& a) { a["aefProfiles"][0]["interfaceDescriptions"][0]["fqdn"] = "x.example"; },
       "/aefProfiles/0/interfaceDescriptions/0"},
      {[](json& a) { a["aefProfiles"][0]["interfaceDescriptions"][0]["ipv4Addr"] = "1.2.3"; },
       "/aefProfiles/0/interfaceDescriptions/0/ipv4Addr"},
      {[](json& a) {
         a["shareableInfo"] = {{"capifProvDoms", {"b"}}};
       },
       "/shareableInfo/isShareable"},
      {[](json& a) { a["apiId"] = "mine"; }, "/apiId"},
  };
  for (const Case& c : cases) {
    json bad = api;
    c.mutate(bad);
    auto res = world_.publish_api.Publish(ApfRequest(p.apf_id, p.apf_id, bad));
    ASSERT_FALSE(res.ok()) << c.param;
    auto [status, problem] = ProblemFromStatus(res.status());
    EXPECT_EQ(status, 400) << c.param;
    EXPECT_EQ(problem["invalidParams"][0]["param"], c.param);
  }
  EXPECT_TRUE(world_.service_apis.Named("")->empty());
}

TEST_F(PublishDiscoverTest, DiscoverFiltersAndChecksTheCaller) {
  auto p = world_.RegisterProvider();
  world_.Publish(p.apf_id, CcfWorld::SampleApi("location-query", p.aef_id));
  world_.Publish(p.apf_id, CcfWorld::SampleApi("qos", p.aef_id));
  auto inv = world_.OnboardInvoker();
  auto other = world_.OnboardInvoker();

  auto all = world_.discover_api.Discover(DiscoverAs(inv.id, inv.id));
  ASSERT_TRUE(all.ok()) << all.status();
  EXPECT_EQ(json::parse(all->body)["serviceAPIDescriptions"].size(), 2u);

  auto named = world_.discover_api.Discover(DiscoverAs(inv.id, inv.id, {{"api-name", "qos"}}));
  json named_body = json::parse(named->body);
  ASSERT_EQ(named_body["serviceAPIDescriptions"].size(), 1u);
  EXPECT_EQ(named_body["serviceAPIDescriptions"][0]["apiName"], "qos");

  auto by_aef = world_.discover_api.Discover(DiscoverAs(inv.id, inv.id, {{"aef-id", "aef-none"}}));
  EXPECT_FALSE(json::parse(by_aef->body).contains("serviceAPIDescriptions"));
  auto by_version = world_.discover_api.Discover(
      DiscoverAs(inv.id, inv.id, {{"api-version", "v1"}, {"protocol", "HTTP_1_1"}}));
  EXPECT_EQ(json::parse(by_version->body)["serviceAPIDescriptions"].size(), 2u);

  EXPECT_EQ(CcfWorld::HttpStatus(world_.discover_api.Discover(DiscoverAs(other.id, inv.id))), 403);
  EXPECT_EQ(CcfWorld::HttpStatus(world_.discover_api.Discover(DiscoverAs(inv.id, ""))), 400);
  RestRequest anonymous = DiscoverAs(inv.id, inv.id);
  anonymous.caller.reset();
  EXPECT_EQ(CcfWorld::HttpStatus(world_.discover_api.Discover(anonymous)), 401);
  EXPECT_EQ(CcfWorld::HttpStatus(world_.discover_api.Discover(DiscoverAs("inv-gone", "inv-gone"))), 404);
}

}  // namespace
}  // namespace capif

namespace capif {
namespace {

// PATCH of a published API (ServiceAPIDescriptionPatch, RFC 7396): named members change, the
// rest stays, and the result must be a valid description of this APF's own AEFs.
TEST_F(PublishDiscoverTest, PatchMergesIntoThePublishedApi) {
  auto p = world_.RegisterProvider();
  auto q = world_.RegisterProvider();
  json api = CcfWorld::SampleApi("location-query", p.aef_id);
  std::string id =
      json::parse(world_.publish_api.Publish(ApfRequest(p.apf_id, p.apf_id, api))->body)["apiId"];
  auto patch = [&](const json& body, const std::string& caller) {
    RestRequest r = ApfRequest(caller, p.apf_id, body, id);
    r.headers.erase("content-type");
    r.headers.emplace("content-type", "application/merge-patch+json");
    return world_.publish_api.Patch(r);
  };
  auto done = patch({{"description", "v2"}, {"shareableInfo", {{"isShareable", true}}}}, p.apf_id);
  ASSERT_TRUE(done.ok()) << done.status();
  ASSERT_EQ(done->status, 200) << done->body;
  json u = json::parse(done->body);
  EXPECT_EQ(u["description"], "v2");
  EXPECT_EQ(u["shareableInfo"]["isShareable"], true);
  EXPECT_EQ(u["apiName"], "location-query");  // not patchable, kept
  EXPECT_EQ(u["aefProfiles"][0]["aefId"], p.aef_id);
  json stored =
      json::parse(world_.publish_api.Get(ApfRequest(p.apf_id, p.apf_id, nullptr, id))->body);
  EXPECT_EQ(stored["description"], "v2");
  EXPECT_EQ(json::parse(patch({{"description", nullptr}}, p.apf_id)->body).count("description"),
            0u);

  struct Refusal {
    json body;
    int status;
  } refusals[] = {
      {{{"apiName", "renamed"}}, 400},          // not in the Patch schema
      {{{"aefProfiles", json::array()}}, 400},  // must stay a valid description
      {{{"aefProfiles",
         {{{"aefId", q.aef_id},
           {"versions", {{{"apiVersion", "v1"}}}},
           {"interfaceDescriptions", {{{"ipv4Addr", "127.0.0.1"}, {"port", 1}}}}}}}},
       403},  // another provider domain's AEF
      {{{"shareableInfo", {{"isShareable", "yes"}}}}, 400},
  };
  for (const Refusal& r : refusals) {
    EXPECT_EQ(CcfWorld::HttpStatus(patch(r.body, p.apf_id)), r.status) << r.body.dump();
  }
  EXPECT_EQ(CcfWorld::HttpStatus(patch({{"description", "x"}}, q.apf_id)), 403);
  json after =
      json::parse(world_.publish_api.Get(ApfRequest(p.apf_id, p.apf_id, nullptr, id))->body);
  EXPECT_EQ(after["aefProfiles"][0]["aefId"], p.aef_id);
  EXPECT_EQ(after["shareableInfo"]["isShareable"], true);
}

}  // namespace
}  // namespace capif
