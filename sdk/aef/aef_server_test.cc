// AefServer against a real (test) CCF over real TLS on 127.0.0.1: the TLS-PSK path asks the CCF
// off the I/O threads, caches unknown identities, and still serves first contacts.
#include "sdk/aef/aef_server.h"

#include <gtest/gtest.h>
#include <openssl/ssl.h>
#include <signal.h>
#include <time.h>
#include <unistd.h>

#include <atomic>
#include <nlohmann/json.hpp>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/notification.h"
#include "common/certificate_authority.h"
#include "common/clock.h"
#include "common/testing/test_credential.h"
#include "net/https_client.h"
#include "net/https_server.h"
#include "sdk/aef/testing/fake_ccf.h"
#include "sdk/invoker/aef_client.h"

namespace capif {
namespace {

constexpr char kKey[] = "0123456789abcdef0123456789abcdef";  // the AEFPSK of inv-known*

using Credential = TestCredential;
using nlohmann::json;
Credential Issue(const CertificateAuthority& ca, const std::string& uri) {
  return IssueTestCredential(ca, uri);
}

class AefServerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    signal(SIGPIPE, SIG_IGN);
    std::string ca_pem = *ca_.certificate().ToPem();
    // The CCF's GET trustedInvokers: it knows the invokers named inv-known*, each with PSK.
    auto ccf = HttpsServer::Create({*ccf_.cert.ToPem(), *ccf_.key.PrivateKeyPem(),
                                    *TrustBundle::FromPem(ca_pem)},
                                   {});
    ASSERT_TRUE(ccf.ok()) << ccf.status();
    ccf_server_ = *std::move(ccf);
    ccf_server_->Route(
        "GET", "/capif-security/v1/trustedInvokers/([^/]+)",
        [this](const RestRequest& r) -> absl::StatusOr<RestResponse> {
          ++asked_;
          if (hold_) release_.WaitForNotificationWithTimeout(absl::Seconds(20));
          const std::string& id = r.path_params[0];
          if (id.rfind("inv-iface", 0) == 0) {
            // An entry the invoker asked for by interfaceDetails: it carries no aefId.
            RestResponse res = PskSecurityInfoAnswer(id, "aef-1", kKey);
            json body = json::parse(res.body);
            body["securityInfo"][0].erase("aefId");
            body["securityInfo"][0]["interfaceDetails"] = {{"ipv4Addr", "127.0.0.1"}};
            res.body = body.dump();
            return res;
          }
          if (id.rfind("inv-of-aef-2", 0) == 0) return PskSecurityInfoAnswer(id, "aef-2", kKey);
          if (id.rfind("inv-known", 0) != 0) return RestError(404, "no security context");
          return PskSecurityInfoAnswer(id, "aef-1", kKey);
        });
    ASSERT_TRUE(ccf_server_->Start().ok());
    auto aef = AefServer::Create({"aef-1", absl::StrCat("https://127.0.0.1:", ccf_server_->port()),
                                  ca_pem, *aef_cred_.cert.ToPem(), *aef_cred_.key.PrivateKeyPem(),
                                  "location-api"});
    ASSERT_TRUE(aef.ok()) << aef.status();
    aef_ = *std::move(aef);
    aef_->Route("GET", "/location/v1/position",
                [](const RestRequest&, const AefCaller& c) -> absl::StatusOr<RestResponse> {
                  return RestResponse::Json(200, {{"invoker", c.invoker_id}});
                });
    ASSERT_TRUE(aef_->Start().ok());
  }
  void TearDown() override {
    if (!release_.HasBeenNotified()) release_.Notify();
    if (aef_) aef_->Stop();
  }

  absl::StatusOr<HttpsResponse> GetWithPsk(const std::string& id, int tls_version = 0) {
    return AefGetWithPsk("127.0.0.1", aef_->port(), id, SecretBytes(kKey),
                         "/location/v1/position", tls_version, absl::Seconds(10));
  }

  CertificateAuthority ca_ =
      *CertificateAuthority::CreateRoot(TrustDomain("a.example"), Clock::Real(), absl::Hours(2));
  Credential ccf_ = Issue(ca_, "spiffe://a.example/ccf/ccf-a");
  Credential aef_cred_ = Issue(ca_, "spiffe://a.example/aef/aef-1");
  std::unique_ptr<HttpsServer> ccf_server_;
  std::unique_ptr<AefServer> aef_;
  std::atomic<int> asked_{0};
  std::atomic<bool> hold_{false};
  absl::Notification release_;
};

// First contact over TLS 1.3 (the handshake pauses while the key is fetched, then resumes) and
// over TLS 1.2 (a bounded wait in the PSK callback).
TEST_F(AefServerTest, FirstContactWithPskSucceedsOverBothVersions) {
  auto tls13 = GetWithPsk("inv-known-1");
  ASSERT_TRUE(tls13.ok()) << tls13.status();
  EXPECT_EQ(tls13->status, 200);
  EXPECT_NE(tls13->body.find("inv-known-1"), std::string::npos);
  auto tls12 = GetWithPsk("inv-known-2", TLS1_2_VERSION);
  ASSERT_TRUE(tls12.ok()) << tls12.status();
  EXPECT_EQ(tls12->status, 200);
  EXPECT_EQ(asked_, 2);
  EXPECT_TRUE(GetWithPsk("inv-known-1").ok());  // cached: the CCF is not asked again
  EXPECT_EQ(asked_, 2);
  // A wrong key still fails the handshake.
  EXPECT_FALSE(AefGetWithPsk("127.0.0.1", aef_->port(), "inv-known-1",
                             SecretBytes("another key, 32 bytes long......"),
                             "/location/v1/position", 0, absl::Seconds(10))
                   .ok());
}

// The CCF answers only the calling AEF's entries, and one requested by interfaceDetails names
// no aefId: its key is used. An entry naming another AEF is not.
TEST_F(AefServerTest, AnEntryWithoutAefIdIsTheCallersAndOneOfAnotherAefIsNot) {
  auto by_interface = GetWithPsk("inv-iface-1");
  ASSERT_TRUE(by_interface.ok()) << by_interface.status();
  EXPECT_EQ(by_interface->status, 200);
  EXPECT_FALSE(GetWithPsk("inv-of-aef-2-1").ok());
}

// A signal to the client's thread (a profiler's or a fuzzer's timer) interrupts its blocking
// connect, handshake and reads (EINTR, as OpenSSL's "want read"): the PSK client carries on.
// Found by aef_psk_identity_fuzz, whose libFuzzer timer did that now and then.
TEST_F(AefServerTest, SignalsDoNotFailThePskClient) {
  struct sigaction quiet {};
  quiet.sa_handler = [](int) {};
  sigemptyset(&quiet.sa_mask);
  quiet.sa_flags = 0;  // no SA_RESTART: blocking calls return EINTR
  struct sigaction previous {};
  ASSERT_EQ(sigaction(SIGALRM, &quiet, &previous), 0);
  sigevent to_me{};
  to_me.sigev_notify = SIGEV_THREAD_ID;
  to_me.sigev_signo = SIGALRM;
  to_me._sigev_un._tid = gettid();
  timer_t timer;
  ASSERT_EQ(timer_create(CLOCK_MONOTONIC, &to_me, &timer), 0);
  itimerspec often{{0, 100000}, {0, 100000}};  // every 100 us
  ASSERT_EQ(timer_settime(timer, 0, &often, nullptr), 0);
  int served = 0;
  std::string failure;
  for (int i = 0; i < 30; ++i) {
    auto r = GetWithPsk("inv-known-1", i % 2 == 0 ? 0 : TLS1_2_VERSION);
    if (r.ok() && r->status == 200) {
      ++served;
    } else if (failure.empty()) {
      failure = r.ok() ? absl::StrCat("HTTP ", r->status) : r.status().ToString();
    }
  }
  timer_delete(timer);
  sigaction(SIGALRM, &previous, nullptr);
  EXPECT_EQ(served, 30) << failure;
}

// Issue 10, problem 8: ClientHellos with invented PSK identities, while the CCF is slow, hold no
// I/O thread (another client is served meanwhile), cost one CCF request per identity, and
// repeating them costs none (negative cache).
TEST_F(AefServerTest, InventedPskIdentitiesNeitherBlockTheAefNorAmplify) {
  hold_ = true;
  constexpr int kInvented = 12;  // more than the AEF's I/O threads
  std::vector<std::thread> attackers;
  for (int i = 0; i < kInvented; ++i) {
    attackers.emplace_back([this, i] {
      EXPECT_FALSE(GetWithPsk(absl::StrCat("inv-invented-", i)).ok());
    });
  }
  while (asked_ < 2) std::this_thread::yield();  // the CCF is now holding fetches
  // A client that needs nothing from the CCF is served while they wait.
  HttpsClient::Options o;
  o.ca_pem = *ca_.certificate().ToPem();
  o.expected_peer_uri = "spiffe://a.example/aef/aef-1";
  o.timeout = absl::Seconds(5);
  auto plain = (*HttpsClient::Create(std::move(o)))
                   ->Request("GET", absl::StrCat("https://127.0.0.1:", aef_->port(),
                                                 "/location/v1/position"));
  ASSERT_TRUE(plain.ok()) << plain.status();
  EXPECT_EQ(plain->status, 401);  // no PSK, certificate or token
  release_.Notify();
  for (std::thread& t : attackers) t.join();
  EXPECT_EQ(asked_, kInvented);
  EXPECT_EQ(aef_->security_info().fetches(), kInvented);
  for (int i = 0; i < kInvented; ++i) {
    EXPECT_FALSE(GetWithPsk(absl::StrCat("inv-invented-", i)).ok());
    EXPECT_FALSE(GetWithPsk(absl::StrCat("inv-invented-", i), TLS1_2_VERSION).ok());
  }
  EXPECT_EQ(asked_, kInvented);  // cached as unknown
}

}  // namespace
}  // namespace capif
