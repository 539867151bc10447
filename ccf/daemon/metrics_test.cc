#include "ccf/daemon/metrics.h"

#include <gtest/gtest.h>
#include <prometheus/text_serializer.h>

#include "ccf/store/sql_stores.h"
#include "common/fake_clock.h"
#include "common/testing/test_paths.h"

namespace capif {
namespace {

TEST(CcfMetricsTest, ReportsOutboxAndBundleState) {
  FakeClock clock;
  auto db = OpenCcfDatabase(TestTmpDir("CcfMetricsTest"));
  ASSERT_TRUE(db.ok());
  SqlNoticeOutbox outbox(*db);
  ASSERT_TRUE(outbox.Enqueue({{"n-1", "ccf-b", kNoticeOffboarding, "x", clock.Now()},
                              {"n-2", "ccf-b", kNoticeOffboarding, "y", clock.Now()},
                              {"n-3", "aef-1", kNoticeAefRevoke, "{}", clock.Now()}})
                  .ok());
  clock.Advance(absl::Seconds(42));
  // No peer has answered yet: no bundle held, refresh not OK.
  PeerBundles bundles({}, nullptr, clock, {});
  auto metrics = std::make_shared<CcfMetrics>(std::vector<std::string>{"ccf-b"}, &bundles,
                                              &outbox, clock);
  std::string text = prometheus::TextSerializer().Serialize(metrics->Collect());
  EXPECT_NE(text.find(R"(capif_outbox_pending{kind="offboarding",destination="ccf-b"} 2)"),
            std::string::npos) << text;
  EXPECT_NE(text.find(R"(capif_outbox_pending{kind="aef-revoke",destination="aef-1"} 1)"),
            std::string::npos) << text;
  EXPECT_NE(text.find("capif_outbox_oldest_pending_seconds 42"), std::string::npos) << text;
  EXPECT_NE(text.find(R"(capif_peer_bundle_refresh_ok{peer="ccf-b"} 0)"), std::string::npos);
  EXPECT_EQ(text.find("capif_peer_bundle_sequence{"), std::string::npos);  // none held
  ASSERT_TRUE(outbox.Delivered("n-3").ok());
  text = prometheus::TextSerializer().Serialize(metrics->Collect());
  EXPECT_EQ(text.find("aef-revoke"), std::string::npos) << text;
}

TEST(CcfMetricsTest, ReportsRequestsAndBusCallsWithHistograms) {
  FakeClock clock;
  RequestMetrics northbound, bus;
  northbound.Record({"capif-security", "PUT", "201"}, absl::Milliseconds(3));
  northbound.Record({"capif-security", "PUT", "201"}, absl::Milliseconds(30));
  northbound.Record({"unmatched", "GET", "404"}, absl::Microseconds(100));
  bus.Record({"ccf-b", "ForwardTokenRequest", "OK"}, absl::Milliseconds(2));
  HttpsServer::Stats stats;
  stats.open_connections = 7;
  stats.overloaded_requests = 3;
  auto metrics = std::make_shared<CcfMetrics>(
      std::vector<std::string>{}, nullptr, nullptr, clock, nullptr,
      TrafficSources{&northbound, [stats] { return stats; }, &bus});
  std::string text = prometheus::TextSerializer().Serialize(metrics->Collect());
  EXPECT_NE(text.find(R"(capif_http_requests_total{api="capif-security",method="PUT",status="201"} 2)"),
            std::string::npos) << text;
  EXPECT_NE(text.find(R"(capif_http_requests_total{api="unmatched",method="GET",status="404"} 1)"),
            std::string::npos) << text;
  // 3 ms and 30 ms: one at or below 5 ms, both at or below 50 ms, both in +Inf.
  EXPECT_NE(text.find(R"(capif_http_request_duration_seconds_bucket{api="capif-security",method="PUT",status="201",le="0.005"} 1)"),
            std::string::npos) << text;
  EXPECT_NE(text.find(R"(capif_http_request_duration_seconds_bucket{api="capif-security",method="PUT",status="201",le="0.05"} 2)"),
            std::string::npos) << text;
  EXPECT_NE(text.find(R"(capif_http_request_duration_seconds_bucket{api="capif-security",method="PUT",status="201",le="+Inf"} 2)"),
            std::string::npos) << text;
  EXPECT_NE(text.find("capif_http_open_connections 7"), std::string::npos) << text;
  EXPECT_NE(text.find("capif_http_overloaded_requests_total 3"), std::string::npos) << text;
  EXPECT_NE(text.find(R"(capif_bus_calls_total{peer="ccf-b",operation="ForwardTokenRequest",status="OK"} 1)"),
            std::string::npos) << text;
}

TEST(CcfMetricsTest, ReportsCallsToPeersAndWhatIsKeptOfThem) {
  FakeClock clock;
  RequestMetrics made;
  made.Record({"ccf-a", "ForwardTokenRequest", "DEADLINE_EXCEEDED"}, absl::Seconds(2));
  TrafficSources traffic;
  traffic.bus_client = &made;
  traffic.peer_breakers = [] {
    PeerBreaker::Stats down{false, 12};
    return std::vector<std::pair<std::string, PeerBreaker::Stats>>{{"ccf-a", down},
                                                                   {"ccf-c", {}}};
  };
  traffic.shared_apis = [] {
    SharedApiCache::PeerStatus a{"ccf-a", true, absl::Seconds(95), true, 4, 0};
    SharedApiCache::PeerStatus c{"ccf-c", false, absl::ZeroDuration(), true, 0, 3};
    return std::vector<SharedApiCache::PeerStatus>{a, c};
  };
  auto metrics = std::make_shared<CcfMetrics>(std::vector<std::string>{}, nullptr, nullptr,
                                              clock, nullptr, std::move(traffic));
  std::string text = prometheus::TextSerializer().Serialize(metrics->Collect());
  for (const char* line : {
           R"(capif_bus_client_calls_total{peer="ccf-a",operation="ForwardTokenRequest",status="DEADLINE_EXCEEDED"} 1)",
           R"(capif_peer_answering{peer="ccf-a"} 0)",
           R"(capif_peer_answering{peer="ccf-c"} 1)",
           R"(capif_peer_calls_refused_total{peer="ccf-a"} 12)",
           R"(capif_peer_shared_apis_age_seconds{peer="ccf-a"} 95)",
           R"(capif_peer_shared_apis_refresh_ok{peer="ccf-a"} 0)",
           R"(capif_peer_shared_apis_stale_answers_total{peer="ccf-a"} 4)",
           R"(capif_peer_shared_apis_missing_answers_total{peer="ccf-c"} 3)",
       }) {
    EXPECT_NE(text.find(line), std::string::npos) << line << "\n" << text;
  }
  EXPECT_EQ(text.find(R"(capif_peer_shared_apis_age_seconds{peer="ccf-c"})"), std::string::npos);
}

TEST(CcfMetricsTest, ServesOverHttpAndRefusesABusyAddress) {
  FakeClock clock;
  auto metrics = std::make_shared<CcfMetrics>(std::vector<std::string>{}, nullptr, nullptr, clock);
  auto exposer = ServeMetrics("127.0.0.1:0", metrics);
  ASSERT_TRUE(exposer.ok()) << exposer.status();
  ASSERT_EQ((*exposer)->GetListeningPorts().size(), 1u);
  int port = (*exposer)->GetListeningPorts()[0];
  EXPECT_GT(port, 0);
  auto busy = ServeMetrics("127.0.0.1:" + std::to_string(port), metrics);
  EXPECT_EQ(busy.status().code(), absl::StatusCode::kUnavailable);
}

}  // namespace
}  // namespace capif
