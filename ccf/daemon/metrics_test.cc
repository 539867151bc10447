#include "ccf/daemon/metrics.h"

#include <gtest/gtest.h>
#include <prometheus/text_serializer.h>

#include "ccf/store/sqlite_stores.h"
#include "common/fake_clock.h"
#include "common/testing/test_paths.h"

namespace capif {
namespace {

TEST(CcfMetricsTest, ReportsOutboxAndBundleState) {
  FakeClock clock;
  auto db = OpenCcfDatabase(TestTmpDir("CcfMetricsTest"));
  ASSERT_TRUE(db.ok());
  SqliteNoticeOutbox outbox(*db);
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
