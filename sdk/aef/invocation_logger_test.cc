#include "sdk/aef/invocation_logger.h"

#include <gtest/gtest.h>
#include <signal.h>

#include <vector>

#include "absl/synchronization/mutex.h"
#include "common/certificate_authority.h"
#include "common/clock.h"
#include "common/testing/test_credential.h"
#include "net/https_server.h"

namespace capif {
namespace {

using nlohmann::json;

// The CCF's Logging API as far as the logger sees it: answers each POST with the next status of
// `answers` (201 once they run out) and keeps the bodies.
class LoggerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    signal(SIGPIPE, SIG_IGN);
    auto server = HttpsServer::Create(
        {*ccf_.cert.ToPem(), *ccf_.key.PrivateKeyPem(), *TrustBundle::FromPem(CaPem())}, {});
    ASSERT_TRUE(server.ok()) << server.status();
    server_ = *std::move(server);
    server_->Route("POST", "/api-invocation-logs/v1/aef-1/logs",
                   [this](const RestRequest& r) -> absl::StatusOr<RestResponse> {
                     absl::MutexLock l(&mu_);
                     callers_.push_back(r.caller ? r.caller->ToString() : "");
                     int status = 201;
                     if (!answers_.empty()) {
                       status = answers_.front();
                       answers_.erase(answers_.begin());
                     }
                     if (status != 201) return RestError(status, "as the test says");
                     bodies_.push_back(json::parse(r.body));
                     return RestResponse::Json(201, bodies_.back());
                   });
    ASSERT_TRUE(server_->Start().ok());
  }
  std::string CaPem() const { return *ca_.certificate().ToPem(); }
  InvocationLogger::Options Options() {
    InvocationLogger::Options o;
    o.ccf_api_root = absl::StrCat("https://127.0.0.1:", server_->port());
    o.ca_pem = CaPem();
    o.certificate_pem = *aef_.cert.ToPem();
    o.private_key_pem = *aef_.key.PrivateKeyPem();
    o.aef_id = "aef-1";
    o.flush_every = absl::Hours(1);  // the test flushes
    return o;
  }
  static json Log(int n) { return {{"apiId", "api-1"}, {"result", "200"}, {"n", n}}; }

  CertificateAuthority ca_ =
      *CertificateAuthority::CreateRoot(TrustDomain("a.example"), Clock::Real(), absl::Hours(2));
  TestCredential ccf_ = IssueTestCredential(ca_, "spiffe://a.example/ccf/ccf-a");
  TestCredential aef_ = IssueTestCredential(ca_, "spiffe://a.example/aef/aef-1");
  std::unique_ptr<HttpsServer> server_;
  absl::Mutex mu_;
  std::vector<int> answers_ ABSL_GUARDED_BY(mu_);
  std::vector<json> bodies_ ABSL_GUARDED_BY(mu_);
  std::vector<std::string> callers_ ABSL_GUARDED_BY(mu_);
};

// Entries go out as one InvocationLog per invoker, in order, as the AEF; a post the CCF cannot
// take now (503) keeps its entries for the next flush; one it refuses (400) drops them.
TEST_F(LoggerTest, PostsPerInvokerKeepsWhatFailedAndDropsWhatIsRefused) {
  InvocationLogger logger(Options());
  logger.Record("inv-1", Log(1));
  logger.Record("inv-2", Log(2));
  logger.Record("inv-1", Log(3));
  {
    absl::MutexLock l(&mu_);
    answers_ = {503};
  }
  EXPECT_FALSE(logger.Flush().ok());
  EXPECT_EQ(logger.stats().failed_posts, 2u);  // the first failed; the second was not tried
  EXPECT_EQ(logger.stats().posted, 0u);
  ASSERT_TRUE(logger.Flush().ok());
  EXPECT_EQ(logger.stats().posted, 3u);
  {
    absl::MutexLock l(&mu_);
    ASSERT_EQ(bodies_.size(), 2u);
    EXPECT_EQ(bodies_[0]["aefId"], "aef-1");
    EXPECT_EQ(bodies_[0]["apiInvokerId"], "inv-1");
    ASSERT_EQ(bodies_[0]["logs"].size(), 2u);
    EXPECT_EQ(bodies_[0]["logs"][0]["n"], 1);
    EXPECT_EQ(bodies_[0]["logs"][1]["n"], 3);
    EXPECT_EQ(bodies_[1]["apiInvokerId"], "inv-2");
    EXPECT_EQ(callers_.back(), "spiffe://a.example/aef/aef-1");
    answers_ = {400};
  }
  logger.Record("inv-3", Log(4));
  EXPECT_TRUE(logger.Flush().ok());  // refused for good: nothing left to retry
  EXPECT_EQ(logger.stats().dropped, 1u);
  EXPECT_TRUE(logger.Flush().ok());
  absl::MutexLock l(&mu_);
  EXPECT_EQ(bodies_.size(), 2u);
}

// At most max_buffered entries wait, also while the CCF is down; at most max_per_post go in
// one InvocationLog.
TEST_F(LoggerTest, WaitingEntriesAndPostsAreBounded) {
  InvocationLogger::Options o = Options();
  o.max_buffered = 3;
  o.max_per_post = 2;
  InvocationLogger logger(o);
  for (int i = 0; i < 5; ++i) logger.Record("inv-1", Log(i));
  EXPECT_EQ(logger.stats().dropped, 2u);  // the two oldest
  ASSERT_TRUE(logger.Flush().ok());
  absl::MutexLock l(&mu_);
  ASSERT_EQ(bodies_.size(), 2u);
  EXPECT_EQ(bodies_[0]["logs"].size(), 2u);
  EXPECT_EQ(bodies_[0]["logs"][0]["n"], 2);
  EXPECT_EQ(bodies_[1]["logs"].size(), 1u);
}

}  // namespace
}  // namespace capif
