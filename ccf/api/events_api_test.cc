#include "ccf/api/events_api.h"

#include <gtest/gtest.h>

#include "ccf/testing/ccf_world.h"

namespace capif {
namespace {

using nlohmann::json;

class EventsApiTest : public ::testing::Test {
 protected:
  EventsApiTest()
      : w_(::testing::UnitTest::GetInstance()->current_test_info()->name()), outbox_(w_.db) {
    p_ = w_.RegisterProvider();
  }

  RestRequest Req(const std::string& kind, const std::string& id, const json& body,
                  const std::string& subscription = "") {
    RestRequest r = w_.As(kind, id, body);
    r.path_params = {id};
    if (!subscription.empty()) r.path_params.push_back(subscription);
    return r;
  }
  // Subscribes as kind/id; the subscription id ("" and a test failure if refused).
  std::string Subscribe(const std::string& kind, const std::string& id, const json& body) {
    auto res = w_.events_api.Subscribe(Req(kind, id, body));
    EXPECT_EQ(CcfWorld::HttpStatus(res), 201) << (res.ok() ? res->body : res.status().ToString());
    if (!res.ok() || res->status != 201) return "";
    for (const auto& [name, value] : res->headers) {
      if (name != "Location") continue;
      std::string prefix = "https://ccf.example/capif-events/v1/" + id + "/subscriptions/";
      EXPECT_EQ(value.rfind(prefix, 0), 0u) << value;
      return value.substr(prefix.size());
    }
    ADD_FAILURE() << "no Location";
    return "";
  }
  // The EventNotifications waiting for `subscription`, oldest first, with their URL.
  std::vector<json> Notices(const std::string& subscription) {
    std::vector<json> out;
    auto pending = outbox_.Pending();
    EXPECT_TRUE(pending.ok()) << pending.status();
    if (!pending.ok()) return out;
    for (const OutboundNotice& n : *pending) {
      if (n.kind != kNoticeCapifEvent || n.destination != subscription) continue;
      out.push_back(json::parse(n.payload));
    }
    return out;
  }
  int Status(const absl::StatusOr<RestResponse>& r) { return CcfWorld::HttpStatus(r); }

  static json Sub(json events, const std::string& dest = "https://sub.example/notify") {
    return {{"events", std::move(events)}, {"notificationDestination", dest}};
  }

  CcfWorld w_;
  SqlNoticeOutbox outbox_;
  CcfWorld::Provider p_;
};

// An AEF hears of APIs published, changed and withdrawn at it, with the apiIds in the detail;
// its filter keeps another AEF's APIs away. Each notification is in the outbox in the same
// transaction as the change.
TEST_F(EventsApiTest, ServiceApiEventsReachTheSubscriberTheirFilterAccepts) {
  CcfWorld::Provider other = w_.RegisterProvider();
  json body = Sub({"SERVICE_API_AVAILABLE", "SERVICE_API_UPDATE", "SERVICE_API_UNAVAILABLE"});
  body["eventFilters"] = json::array();
  for (int i = 0; i < 3; ++i) body["eventFilters"].push_back({{"aefIds", {p_.aef_id}}});
  std::string sub = Subscribe("aef", p_.aef_id, body);
  std::string all = Subscribe("amf", other.amf_id, Sub({"SERVICE_API_AVAILABLE"}));
  ASSERT_FALSE(sub.empty());

  json api = w_.Publish(p_.apf_id, CcfWorld::SampleApi("location", p_.aef_id));
  w_.Publish(other.apf_id, CcfWorld::SampleApi("elsewhere", other.aef_id));
  std::vector<json> got = Notices(sub);
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0]["url"], "https://sub.example/notify");
  EXPECT_EQ(got[0]["notification"]["subscriptionId"], sub);
  EXPECT_EQ(got[0]["notification"]["events"], "SERVICE_API_AVAILABLE");
  EXPECT_EQ(got[0]["notification"]["eventDetail"]["apiIds"], json::array({api["apiId"]}));
  EXPECT_EQ(Notices(all).size(), 2u);  // no filter: both

  // An update, then the withdrawal.
  RestRequest put = w_.As("apf", p_.apf_id, api);
  put.path_params = {p_.apf_id, api["apiId"]};
  ASSERT_EQ(Status(w_.publish_api.Replace(put)), 200);
  RestRequest del = w_.As("apf", p_.apf_id);
  del.path_params = {p_.apf_id, api["apiId"]};
  ASSERT_EQ(Status(w_.publish_api.Unpublish(del)), 204);
  got = Notices(sub);
  ASSERT_EQ(got.size(), 3u);
  EXPECT_EQ(got[1]["notification"]["events"], "SERVICE_API_UPDATE");
  EXPECT_EQ(got[2]["notification"]["events"], "SERVICE_API_UNAVAILABLE");
  EXPECT_EQ(got[2]["notification"]["eventDetail"]["apiIds"], json::array({api["apiId"]}));
}

// A provider domain that deregisters withdraws its APIs: each one is SERVICE_API_UNAVAILABLE,
// and its functions' own subscriptions end.
TEST_F(EventsApiTest, DeregistrationWithdrawsTheApisAndEndsTheFunctionsSubscriptions) {
  CcfWorld::Provider watcher = w_.RegisterProvider();
  std::string sub = Subscribe("apf", watcher.apf_id, Sub({"SERVICE_API_UNAVAILABLE"}));
  std::string own = Subscribe("aef", p_.aef_id, Sub({"SERVICE_API_AVAILABLE"}));
  json api = w_.Publish(p_.apf_id, CcfWorld::SampleApi("location", p_.aef_id));
  ASSERT_TRUE(w_.providers.Delete(p_.domain_id).ok());
  std::vector<json> got = Notices(sub);
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0]["notification"]["eventDetail"]["apiIds"], json::array({api["apiId"]}));
  auto gone = w_.subscriptions.OfSubscriber(p_.aef_id);
  ASSERT_TRUE(gone.ok());
  EXPECT_TRUE(gone->empty());
  EXPECT_EQ(Notices(own).size(), 1u);  // what it was owed before is still delivered
}

// An API invoker hears only of itself in API_INVOKER_* events, and may not watch onboardings.
TEST_F(EventsApiTest, AnInvokerHearsOnlyOfItself) {
  auto alice = w_.OnboardInvoker();
  auto bob = w_.OnboardInvoker();
  auto refused = w_.events_api.Subscribe(Req("invoker", alice.id, Sub({"API_INVOKER_ONBOARDED"})));
  EXPECT_EQ(Status(refused), 403);
  std::string sub =
      Subscribe("invoker", alice.id, Sub({"API_INVOKER_UPDATED", "API_INVOKER_OFFBOARDED"}));
  std::string amf =
      Subscribe("amf", p_.amf_id, Sub({"API_INVOKER_ONBOARDED", "API_INVOKER_OFFBOARDED"}));
  for (const auto& who : {bob.id, alice.id}) {
    auto r = w_.invokers.Get(ApiInvokerId(who));
    ASSERT_TRUE(r.ok() && r->has_value());
    ASSERT_TRUE(w_.invokers.Update(**r).ok());
  }
  std::vector<json> got = Notices(sub);
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0]["notification"]["events"], "API_INVOKER_UPDATED");
  EXPECT_EQ(got[0]["notification"]["eventDetail"]["apiInvokerIds"], json::array({alice.id}));

  auto carol = w_.OnboardInvoker();
  got = Notices(amf);
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0]["notification"]["eventDetail"]["apiInvokerIds"], json::array({carol.id}));

  // Offboarding: told to the invoker's own subscription, which then ends.
  ASSERT_TRUE(w_.invokers.Delete(ApiInvokerId(alice.id), {}, 0).ok());
  got = Notices(sub);
  ASSERT_EQ(got.size(), 2u);
  EXPECT_EQ(got[1]["notification"]["events"], "API_INVOKER_OFFBOARDED");
  EXPECT_EQ(Notices(amf).size(), 2u);
  auto left = w_.subscriptions.OfSubscriber(alice.id);
  ASSERT_TRUE(left.ok());
  EXPECT_TRUE(left->empty());
}

TEST_F(EventsApiTest, OnlyTheSubscriberNamedInThePathMaySubscribe) {
  auto alice = w_.OnboardInvoker();
  json body = Sub({"SERVICE_API_AVAILABLE"});
  RestRequest anonymous = Req("", alice.id, body);
  anonymous.caller.reset();
  EXPECT_EQ(Status(w_.events_api.Subscribe(anonymous)), 401);
  RestRequest other = Req("invoker", alice.id, body);
  other.caller = *SpiffeId::Parse("spiffe://a.example/invoker/someone-else");
  EXPECT_EQ(Status(w_.events_api.Subscribe(other)), 403);
  RestRequest foreign = Req("invoker", alice.id, body);
  foreign.caller = *SpiffeId::Parse("spiffe://b.example/invoker/" + alice.id);
  EXPECT_EQ(Status(w_.events_api.Subscribe(foreign)), 403);
  EXPECT_EQ(Status(w_.events_api.Subscribe(Req("invoker", "never-onboarded", body))), 403);
  EXPECT_EQ(Status(w_.events_api.Subscribe(Req("aef", "unregistered-aef", body))), 403);
  EXPECT_EQ(Status(w_.events_api.Subscribe(Req("ccf", "ccf-a", body))), 403);
}

// Each malformed or unsupported request is a 400 naming the attribute as a JSON Pointer.
TEST_F(EventsApiTest, MalformedSubscriptionsAre400WithTheAttribute) {
  struct Case {
    json body;
    std::string param;
  };
  json two_filters = Sub({"SERVICE_API_AVAILABLE"});
  two_filters["eventFilters"] = {{{"apiIds", {"a"}}}, {{"apiIds", {"b"}}}};
  json bad_filter = Sub({"SERVICE_API_AVAILABLE"});
  bad_filter["eventFilters"] = {{{"apiNames", {"a"}}}};
  json empty_ids = Sub({"SERVICE_API_AVAILABLE"});
  empty_ids["eventFilters"] = {{{"aefIds", json::array()}}};
  json periodic = Sub({"SERVICE_API_AVAILABLE"});
  periodic["eventReq"] = {{"notifMethod", "PERIODIC"}, {"repPeriod", 10}};
  json past = Sub({"SERVICE_API_AVAILABLE"});
  past["eventReq"] = {{"monDur", "2001-01-01T00:00:00Z"}};
  json zero = Sub({"SERVICE_API_AVAILABLE"});
  zero["eventReq"] = {{"maxReportNbr", 0}};
  json test = Sub({"SERVICE_API_AVAILABLE"});
  test["requestTestNotification"] = true;
  json ws = Sub({"SERVICE_API_AVAILABLE"});
  ws["websockNotifConfig"] = {{"requestWebsocketUri", true}};
  std::vector<Case> cases = {
      {{{"notificationDestination", "https://x.example/"}}, "/events"},
      {Sub(json::array()), "/events"},
      {Sub("SERVICE_API_AVAILABLE"), "/events"},
      {Sub({"SERVICE_API_AVAILABLE", 7}), "/events/1"},
      {Sub({"NO_SUCH_EVENT"}), "/events/0"},
      {Sub({"API_TOPOLOGY_HIDING_CREATED"}), "/events/0"},
      {{{"events", {"SERVICE_API_AVAILABLE"}}}, "/notificationDestination"},
      {Sub({"SERVICE_API_AVAILABLE"}, "http://x.example/cb"), "/notificationDestination"},
      {Sub({"SERVICE_API_AVAILABLE"}, "https://"), "/notificationDestination"},
      {Sub({"SERVICE_API_AVAILABLE"}, "https://x.example/a b"), "/notificationDestination"},
      {Sub({"SERVICE_API_AVAILABLE"}, "https://x.example/" + std::string(3000, 'a')),
       "/notificationDestination"},
      {two_filters, "/eventFilters"},
      {bad_filter, "/eventFilters/0/apiNames"},
      {empty_ids, "/eventFilters/0/aefIds"},
      {periodic, "/eventReq/notifMethod"},
      {past, "/eventReq/monDur"},
      {zero, "/eventReq/maxReportNbr"},
      {test, "/requestTestNotification"},
      {ws, "/websockNotifConfig"},
  };
  for (const Case& c : cases) {
    auto res = w_.events_api.Subscribe(Req("aef", p_.aef_id, c.body));
    ASSERT_EQ(Status(res), 400) << c.body.dump();
    auto [status, problem] = ProblemFromStatus(res.status());
    ASSERT_TRUE(problem.contains("invalidParams")) << problem.dump();
    EXPECT_EQ(problem["invalidParams"][0]["param"], c.param) << c.body.dump();
  }
  auto none = w_.subscriptions.OfSubscriber(p_.aef_id);
  ASSERT_TRUE(none.ok());
  EXPECT_TRUE(none->empty());
}

// PUT replaces, PATCH merges (RFC 7396), DELETE removes with what was not delivered yet; a
// subscription is found only under its own subscriber.
TEST_F(EventsApiTest, PutPatchAndDeleteActOnTheSubscribersOwnSubscription) {
  CcfWorld::Provider other = w_.RegisterProvider();
  json body = Sub({"SERVICE_API_AVAILABLE"});
  body["supportedFeatures"] = "f";
  auto created = w_.events_api.Subscribe(Req("aef", p_.aef_id, body));
  ASSERT_EQ(Status(created), 201);
  EXPECT_EQ(json::parse(created->body)["supportedFeatures"], "0");
  std::string sub = Subscribe("aef", p_.aef_id, Sub({"SERVICE_API_AVAILABLE"}));

  json put = Sub({"SERVICE_API_UPDATE"}, "https://elsewhere.example/n");
  RestRequest impostor = Req("aef", p_.aef_id, put, sub);
  impostor.caller = *SpiffeId::Parse("spiffe://a.example/aef/" + other.aef_id);
  EXPECT_EQ(Status(w_.events_api.Replace(impostor)), 403);
  EXPECT_EQ(Status(w_.events_api.Replace(Req("aef", p_.aef_id, put, "sub-nope"))), 404);
  RestRequest theirs = Req("aef", other.aef_id, put, sub);  // their own path, our id
  EXPECT_EQ(Status(w_.events_api.Replace(theirs)), 404);
  auto replaced = w_.events_api.Replace(Req("aef", p_.aef_id, put, sub));
  ASSERT_EQ(Status(replaced), 200);
  EXPECT_EQ(json::parse(replaced->body), put);

  RestRequest patch = Req("aef", p_.aef_id, nullptr, sub);
  patch.body = R"({"events": ["SERVICE_API_AVAILABLE"], "eventReq": {"maxReportNbr": 1}})";
  patch.headers.emplace("content-type", "application/merge-patch+json");
  auto patched = w_.events_api.Patch(patch);
  ASSERT_EQ(Status(patched), 200) << patched.status();
  json now = json::parse(patched->body);
  EXPECT_EQ(now["events"], json::array({"SERVICE_API_AVAILABLE"}));
  EXPECT_EQ(now["notificationDestination"], "https://elsewhere.example/n");
  RestRequest bad_patch = patch;
  bad_patch.body = R"({"supportedFeatures": "1"})";
  EXPECT_EQ(Status(w_.events_api.Patch(bad_patch)), 400);
  RestRequest json_patch = patch;
  json_patch.headers = {{"content-type", "application/json"}};
  EXPECT_EQ(Status(w_.events_api.Patch(json_patch)), 415);

  // maxReportNbr 1: one notification, then the subscription has ended.
  w_.Publish(p_.apf_id, CcfWorld::SampleApi("one", p_.aef_id));
  w_.Publish(p_.apf_id, CcfWorld::SampleApi("two", p_.aef_id));
  std::vector<json> got = Notices(sub);
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0]["url"], "https://elsewhere.example/n");
  EXPECT_EQ(Status(w_.events_api.Replace(Req("aef", p_.aef_id, put, sub))), 404);

  // DELETE takes the undelivered notifications with it.
  std::string third = Subscribe("aef", p_.aef_id, Sub({"SERVICE_API_AVAILABLE"}));
  w_.Publish(p_.apf_id, CcfWorld::SampleApi("three", p_.aef_id));
  ASSERT_EQ(Notices(third).size(), 1u);
  RestRequest impostor_delete = Req("aef", p_.aef_id, nullptr, third);
  impostor_delete.caller = impostor.caller;
  EXPECT_EQ(Status(w_.events_api.Unsubscribe(impostor_delete)), 403);
  EXPECT_EQ(Status(w_.events_api.Unsubscribe(Req("aef", other.aef_id, nullptr, third))), 404);
  EXPECT_EQ(Status(w_.events_api.Unsubscribe(Req("aef", p_.aef_id, nullptr, third))), 204);
  EXPECT_TRUE(Notices(third).empty());
  EXPECT_EQ(Status(w_.events_api.Unsubscribe(Req("aef", p_.aef_id, nullptr, third))), 404);
}

// eventReq.monDur: past it, nothing more is told and the subscription is gone.
TEST_F(EventsApiTest, ASubscriptionEndsAtItsMonitoringDuration) {
  json body = Sub({"SERVICE_API_AVAILABLE"});
  body["eventReq"] = {
      {"monDur", absl::FormatTime(absl::RFC3339_sec, w_.clock.Now() + absl::Minutes(10),
                                  absl::UTCTimeZone())},
      {"notifMethod", "ON_EVENT_DETECTION"},
      {"immRep", false}};
  std::string sub = Subscribe("aef", p_.aef_id, body);
  w_.Publish(p_.apf_id, CcfWorld::SampleApi("before", p_.aef_id));
  w_.clock.Advance(absl::Minutes(11));
  w_.Publish(p_.apf_id, CcfWorld::SampleApi("after", p_.aef_id));
  EXPECT_EQ(Notices(sub).size(), 1u);
  auto left = w_.subscriptions.Get(p_.aef_id, sub);
  ASSERT_TRUE(left.ok());
  EXPECT_FALSE(left->has_value());
}

// A subscriber cannot grow the database without bound.
TEST_F(EventsApiTest, SubscriptionsPerSubscriberAreBounded) {
  for (int i = 0; i < 100; ++i)
    ASSERT_FALSE(Subscribe("aef", p_.aef_id, Sub({"SERVICE_API_UPDATE"})).empty());
  EXPECT_EQ(Status(w_.events_api.Subscribe(Req("aef", p_.aef_id, Sub({"SERVICE_API_UPDATE"})))),
            403);
}

// An AEF revoking an invoker's authorization is API_INVOKER_AUTHORIZATION_REVOKED, with the
// APIs, told to the invoker (about itself) and to a provider function whose filter names the
// AEF, in the transaction of the revocation.
TEST_F(EventsApiTest, AuthorizationRevokedByTheAefIsToldToTheInvokerAndTheProvider) {
  auto alice = w_.OnboardInvoker();
  auto bob = w_.OnboardInvoker();
  json api = w_.Publish(p_.apf_id, CcfWorld::SampleApi("location", p_.aef_id, {"PKI"}));
  for (const auto* who : {&alice, &bob}) {
    RestRequest r =
        w_.As("invoker", who->id,
              {{"notificationDestination", "https://i.example/cb"},
               {"securityInfo", {{{"aefId", p_.aef_id}, {"prefSecurityMethods", {"PKI"}}}}}});
    r.path_params = {who->id};
    ASSERT_EQ(Status(w_.security_api->Create(r)), 201);
  }
  std::string mine = Subscribe("invoker", alice.id, Sub({"API_INVOKER_AUTHORIZATION_REVOKED"}));
  json filtered = Sub({"API_INVOKER_AUTHORIZATION_REVOKED"});
  filtered["eventFilters"] = {{{"aefIds", {p_.aef_id}}}};
  std::string amf = Subscribe("amf", p_.amf_id, filtered);
  for (const auto* who : {&bob, &alice}) {
    RestRequest revoke = w_.As(
        "aef", p_.aef_id,
        json{
            {"apiInvokerId", who->id}, {"apiIds", {api["apiId"]}}, {"cause", "UNEXPECTED_REASON"}});
    revoke.path_params = {who->id};
    ASSERT_EQ(Status(w_.security_api->RevokeByAef(revoke)), 204);
  }
  std::vector<json> got = Notices(mine);
  ASSERT_EQ(got.size(), 1u);  // not bob's
  EXPECT_EQ(got[0]["notification"]["events"], "API_INVOKER_AUTHORIZATION_REVOKED");
  EXPECT_EQ(got[0]["notification"]["eventDetail"]["apiInvokerIds"], json::array({alice.id}));
  EXPECT_EQ(got[0]["notification"]["eventDetail"]["apiIds"], json::array({api["apiId"]}));
  got = Notices(amf);
  ASSERT_EQ(got.size(), 2u);
  EXPECT_EQ(got[0]["notification"]["eventDetail"]["apiInvokerIds"], json::array({bob.id}));
}

// The AEF hears when the access control policy of its API changes: an invoker authorized, its
// security context deleted, the API withdrawn (ACCESS_CONTROL_POLICY_UNAVAILABLE).
TEST_F(EventsApiTest, TheAefHearsOfItsAccessControlPolicyChanging) {
  auto alice = w_.OnboardInvoker();
  json api = w_.Publish(p_.apf_id, CcfWorld::SampleApi("location", p_.aef_id, {"PKI"}));
  json body = Sub({"ACCESS_CONTROL_POLICY_UPDATE", "ACCESS_CONTROL_POLICY_UNAVAILABLE"});
  body["eventFilters"] = {{{"aefIds", {p_.aef_id}}}, {{"apiIds", {api["apiId"]}}}};
  std::string sub = Subscribe("aef", p_.aef_id, body);
  RestRequest r =
      w_.As("invoker", alice.id,
            {{"notificationDestination", "https://i.example/cb"},
             {"securityInfo", {{{"aefId", p_.aef_id}, {"prefSecurityMethods", {"PKI"}}}}}});
  r.path_params = {alice.id};
  ASSERT_EQ(Status(w_.security_api->Create(r)), 201);
  RestRequest del = w_.As("invoker", alice.id);
  del.path_params = {alice.id};
  ASSERT_EQ(Status(w_.security_api->Remove(del)), 204);
  RestRequest unpublish = w_.As("apf", p_.apf_id);
  unpublish.path_params = {p_.apf_id, api["apiId"]};
  ASSERT_EQ(Status(w_.publish_api.Unpublish(unpublish)), 204);
  std::vector<json> got = Notices(sub);
  ASSERT_EQ(got.size(), 3u);
  for (int i : {0, 1}) {
    EXPECT_EQ(got[i]["notification"]["events"], "ACCESS_CONTROL_POLICY_UPDATE");
    EXPECT_EQ(got[i]["notification"]["eventDetail"]["accCtrlPolList"]["apiId"], api["apiId"]);
    EXPECT_EQ(got[i]["notification"]["eventDetail"]["apiInvokerIds"], json::array({alice.id}));
  }
  EXPECT_EQ(got[2]["notification"]["events"], "ACCESS_CONTROL_POLICY_UNAVAILABLE");
  EXPECT_EQ(got[2]["notification"]["eventDetail"]["apiIds"], json::array({api["apiId"]}));
}

}  // namespace
}  // namespace capif
