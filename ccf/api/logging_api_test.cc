#include "ccf/api/logging_api.h"

#include <gtest/gtest.h>

#include "ccf/testing/ccf_world.h"

namespace capif {
namespace {

using nlohmann::json;

class LoggingApiTest : public ::testing::Test {
 protected:
  LoggingApiTest() : w_(::testing::UnitTest::GetInstance()->current_test_info()->name()) {
    p_ = w_.RegisterProvider();
    q_ = w_.RegisterProvider();
    api_ = w_.Publish(p_.apf_id, CcfWorld::SampleApi("location", p_.aef_id))["apiId"];
    other_api_ = w_.Publish(q_.apf_id, CcfWorld::SampleApi("weather", q_.aef_id))["apiId"];
  }

  static json Entry(const std::string& api_id, const std::string& result,
                    const std::string& at = "2026-12-01T10:00:00Z") {
    return {{"apiId", api_id},         {"apiName", "location"},
            {"apiVersion", "v1"},      {"resourceName", "position"},
            {"protocol", "HTTP_1_1"},  {"operation", "GET"},
            {"result", result},        {"invocationTime", at},
            {"invocationLatency", 12}, {"srcInterface", {{"ipv4Addr", "10.0.0.1"}}}};
  }
  absl::StatusOr<RestResponse> Post(const std::string& aef, const json& body,
                                    const std::string& caller = "") {
    RestRequest r = w_.As("aef", caller.empty() ? aef : caller, body);
    r.path_params = {aef};
    return w_.logging_api.PostLogs(r);
  }
  absl::StatusOr<RestResponse> Audit(const std::string& amf,
                                     std::multimap<std::string, std::string> query) {
    RestRequest r = w_.As("amf", amf);
    r.query = std::move(query);
    return w_.logging_api.Audit(r);
  }
  static int Status(const absl::StatusOr<RestResponse>& r) { return CcfWorld::HttpStatus(r); }

  CcfWorld w_;
  CcfWorld::Provider p_, q_;
  std::string api_, other_api_;
};

// The AEF logs, also for a peer's invoker; the AMF of its domain finds them by each filter, and
// another domain's AMF does not.
TEST_F(LoggingApiTest, TheAefLogsAndItsDomainsAmfAuditsWithTheFilters) {
  json body = {{"aefId", p_.aef_id},
               {"apiInvokerId", "inv-of-a-peer"},
               {"logs", {Entry(api_, "200"), Entry(api_, "503", "2026-12-01T11:00:00Z")}},
               {"supportedFeatures", "1"}};
  auto posted = Post(p_.aef_id, body);
  ASSERT_EQ(Status(posted), 201) << posted.status();
  EXPECT_EQ(json::parse(posted->body)["supportedFeatures"], "0");
  bool location = false;
  for (const auto& [k, v] : posted->headers) {
    location |=
        k == "Location" &&
        v.rfind("https://ccf.example/api-invocation-logs/v1/" + p_.aef_id + "/logs/log-", 0) == 0;
  }
  EXPECT_TRUE(location);
  json second = {{"aefId", p_.aef_id},
                 {"apiInvokerId", "inv-local"},
                 {"logs", {Entry(api_, "201", "2026-12-01T12:00:00Z")}}};
  ASSERT_EQ(Status(Post(p_.aef_id, second)), 201);

  // One (AEF, invoker): an InvocationLog.
  auto one = Audit(p_.amf_id, {{"api-invoker-id", "inv-of-a-peer"}});
  ASSERT_EQ(Status(one), 200) << one.status();
  json got = json::parse(one->body);
  EXPECT_EQ(got["aefId"], p_.aef_id);
  EXPECT_EQ(got["apiInvokerId"], "inv-of-a-peer");
  ASSERT_EQ(got["logs"].size(), 2u);
  EXPECT_EQ(got["logs"][0]["result"], "200");
  EXPECT_EQ(got["logs"][0]["invocationLatency"], 12);  // as the AEF sent it
  // Several: InvocationLogs, oldest first.
  auto all = Audit(p_.amf_id, {});
  ASSERT_EQ(Status(all), 200);
  got = json::parse(all->body);
  ASSERT_EQ(got["multipleInvocationLogs"].size(), 2u);
  EXPECT_EQ(got["multipleInvocationLogs"][1]["apiInvokerId"], "inv-local");

  struct Case {
    std::multimap<std::string, std::string> query;
    size_t entries;  // 0: 404
  };
  std::vector<Case> cases = {
      {{{"result", "503"}}, 1},
      {{{"time-range-start", "2026-12-01T10:30:00Z"}, {"time-range-end", "2026-12-01T11:30:00Z"}},
       1},
      {{{"time-range-start", "2026-12-02T00:00:00Z"}}, 0},
      {{{"api-id", api_}, {"api-name", "location"}, {"api-version", "v1"}}, 3},
      {{{"api-version", "v2"}}, 0},
      {{{"protocol", "HTTP_2"}}, 0},
      {{{"operation", "GET"}, {"resource-name", "position"}}, 3},
      {{{"src-interface", R"({"ipv4Addr": "10.0.0.1"})"}}, 3},
      {{{"src-interface", R"({"ipv4Addr": "10.0.0.2"})"}}, 0},
      {{{"aef-id", p_.aef_id}, {"supported-features", "0"}}, 3},
  };
  for (const Case& c : cases) {
    auto res = Audit(p_.amf_id, c.query);
    if (c.entries == 0) {
      EXPECT_EQ(Status(res), 404) << c.query.begin()->first;
      continue;
    }
    ASSERT_EQ(Status(res), 200) << c.query.begin()->first;
    json doc = json::parse(res->body);
    size_t n = 0;
    if (doc.contains("multipleInvocationLogs")) {
      for (const json& g : doc["multipleInvocationLogs"]) n += g["logs"].size();
    } else {
      n = doc["logs"].size();
    }
    EXPECT_EQ(n, c.entries) << c.query.begin()->first;
  }
  // Another domain's AMF sees none of them, and may not name this AEF.
  EXPECT_EQ(Status(Audit(q_.amf_id, {})), 404);
  EXPECT_EQ(Status(Audit(q_.amf_id, {{"aef-id", p_.aef_id}})), 403);
  EXPECT_EQ(Status(Audit(p_.amf_id, {{"time-range-start", "yesterday"}})), 400);
  EXPECT_EQ(Status(Audit(p_.amf_id, {{"dest-interface", "[1]"}})), 400);
  RestRequest by_aef = w_.As("aef", p_.aef_id);
  EXPECT_EQ(Status(w_.logging_api.Audit(by_aef)), 403);
}

// Each log is a SERVICE_API_INVOCATION_SUCCESS or _FAILURE event, with the entries.
TEST_F(LoggingApiTest, LogsAreInvocationEventsForSubscribers) {
  RestRequest sub =
      w_.As("amf", p_.amf_id,
            {{"events", {"SERVICE_API_INVOCATION_SUCCESS", "SERVICE_API_INVOCATION_FAILURE"}},
             {"notificationDestination", "https://amf.example/n"}});
  sub.path_params = {p_.amf_id};
  ASSERT_EQ(Status(w_.events_api.Subscribe(sub)), 201);
  RestRequest by_invoker = w_.As("invoker", w_.OnboardInvoker().id);
  by_invoker.body = R"({"events": ["SERVICE_API_INVOCATION_SUCCESS"],
                        "notificationDestination": "https://i.example/n"})";
  by_invoker.path_params = {by_invoker.caller->id()};
  by_invoker.headers.emplace("content-type", "application/json");
  EXPECT_EQ(Status(w_.events_api.Subscribe(by_invoker)), 403);

  json body = {{"aefId", p_.aef_id},
               {"apiInvokerId", "inv-1"},
               {"logs", {Entry(api_, "200"), Entry(api_, "404"), Entry(api_, "204")}}};
  ASSERT_EQ(Status(Post(p_.aef_id, body)), 201);
  std::vector<json> got;
  auto pending = SqlNoticeOutbox(w_.db).Pending();  // named: the loop must not outlive it
  ASSERT_TRUE(pending.ok());
  for (const OutboundNotice& n : *pending) {
    if (n.kind == kNoticeCapifEvent) got.push_back(json::parse(n.payload)["notification"]);
  }
  ASSERT_EQ(got.size(), 2u);
  EXPECT_EQ(got[0]["events"], "SERVICE_API_INVOCATION_SUCCESS");
  json logs = got[0]["eventDetail"]["invocationLogs"][0];
  EXPECT_EQ(logs["aefId"], p_.aef_id);
  EXPECT_EQ(logs["logs"].size(), 2u);
  EXPECT_EQ(got[1]["events"], "SERVICE_API_INVOCATION_FAILURE");
  EXPECT_EQ(got[1]["eventDetail"]["invocationLogs"][0]["logs"][0]["result"], "404");
}

TEST_F(LoggingApiTest, OnlyTheAefLogsOnlyItsOwnApisAndMalformedLogsAre400) {
  json good = {{"aefId", p_.aef_id}, {"apiInvokerId", "inv-1"}, {"logs", {Entry(api_, "200")}}};
  RestRequest anonymous = w_.As("", "", good);
  anonymous.path_params = {p_.aef_id};
  EXPECT_EQ(Status(w_.logging_api.PostLogs(anonymous)), 401);
  EXPECT_EQ(Status(Post(p_.aef_id, good, q_.aef_id)), 403);  // another AEF
  EXPECT_EQ(Status(Post("aef-unregistered", good)), 403);

  struct Case {
    json body;
    std::string param;
  };
  auto with = [&](const std::function<void(json&)>& change) {
    json b = good;
    change(b);
    return b;
  };
  std::vector<Case> cases = {
      {with([&](json& b) { b["aefId"] = q_.aef_id; }), "/aefId"},
      {with([](json& b) { b.erase("apiInvokerId"); }), "/apiInvokerId"},
      {with([](json& b) { b["logs"] = json::array(); }), "/logs"},
      {with([](json& b) { b["logs"][0].erase("result"); }), "/logs/0/result"},
      {with([](json& b) { b["logs"][0]["protocol"] = 2; }), "/logs/0/protocol"},
      {with([](json& b) { b["logs"][0]["invocationTime"] = "noon"; }), "/logs/0/invocationTime"},
      {with([](json& b) { b["logs"][0]["invocationLatency"] = -1; }), "/logs/0/invocationLatency"},
      {with([](json& b) { b["logs"][0]["srcInterface"] = "10.0.0.1"; }), "/logs/0/srcInterface"},
      {with([&](json& b) { b["logs"][0]["apiId"] = other_api_; }), "/logs/0/apiId"},
      {with([](json& b) { b["logs"][0]["apiId"] = "api-nope"; }), "/logs/0/apiId"},
  };
  for (const Case& c : cases) {
    auto res = Post(p_.aef_id, c.body);
    ASSERT_EQ(Status(res), 400) << c.body.dump();
    auto [status, problem] = ProblemFromStatus(res.status());
    EXPECT_EQ(problem["invalidParams"][0]["param"], c.param) << c.body.dump();
  }
  EXPECT_EQ(Status(Audit(p_.amf_id, {})), 404);  // nothing was stored
}

}  // namespace
}  // namespace capif
