// BusPeerRequests against a real in-process peer CCF over mutual TLS.
#include "federation/peer_requests.h"

#include <gtest/gtest.h>

#include <atomic>
#include <thread>

#include "absl/synchronization/notification.h"
#include "federation/bus_server.h"
#include "federation/testing/stub_local_ccf.h"
#include "federation/testing/test_domains.h"

namespace capif {
namespace {

namespace fv1 = capif::federation::v1;

// A peer whose first LookupSecurityInfo never answers, and whose second one waits (after saying
// it arrived) until released; every later call answers at once.
class HangingPeer final : public StubLocalCcf {
 public:
  ~HangingPeer() override { Release(); }
  absl::StatusOr<RemoteSecurityInfo> LookupSecurityInfo(const Peer&, const std::string&,
                                                        const std::string&,
                                                        const std::string&) override {
    int n = ++calls_;
    if (n == 1 || n == 2) {
      if (n == 2) second_arrived_.Notify();
      release_.WaitForNotification();
    }
    return absl::NotFoundError("no such invoker here");
  }
  void Release() {
    if (!release_.HasBeenNotified()) release_.Notify();
  }
  int calls() const { return calls_; }
  absl::Notification second_arrived_;

 private:
  std::atomic<int> calls_{0};
  absl::Notification release_;
};

TEST(BusPeerRequestsTest, APeerThatStopsAnsweringHoldsOneCallerAtATime) {
  TestDomains domains(Clock::Real());
  HangingPeer state;
  BusIdentity a = domains.Identity("a.example", "ccf-a");
  BusIdentity b = domains.Identity("b.example", "ccf-b");
  auto dir = *PeerDirectory::Create({domains.PeerFor(
      "b.example", "ccf-b", "unused:1",
      {fv1::OPERATION_LOOKUP_SECURITY_INFO, fv1::OPERATION_REQUEST_SECURITY_METHOD,
       fv1::OPERATION_FORWARD_TOKEN_REQUEST})});
  auto server = BusServer::Start(a, dir, "127.0.0.1:0", Clock::Real(), &state);
  ASSERT_TRUE(server.ok()) << server.status();
  auto client = PeerClient::Create(
      b, domains.PeerFor("a.example", "ccf-a", absl::StrCat("127.0.0.1:", (*server)->port())),
      Clock::Real());
  BusPeerRequestsOptions options;
  options.deadline = absl::Seconds(1);
  BusPeerRequests requests({{CcfId("ccf-a"), client.get()}}, options);

  // The first call waits out its deadline: from now on A is not answering.
  auto first = requests.LookupSecurityInfo("ccf-a", "inv-1", "aef-1", "");
  EXPECT_EQ(first.status().code(), absl::StatusCode::kDeadlineExceeded) << first.status();
  EXPECT_FALSE(requests.breaker_stats()[0].second.answering);

  // The next call probes (and hangs at A); every other call meanwhile fails at once without
  // reaching A: a security-method request, a forwarded token, another lookup.
  absl::StatusOr<RemoteSecurityInfo> probe;
  std::thread prober([&] { probe = requests.LookupSecurityInfo("ccf-a", "inv-2", "aef-1", ""); });
  if (!state.second_arrived_.WaitForNotificationWithTimeout(absl::Seconds(30))) {
    state.Release();
    prober.join();
    FAIL() << "the probe never reached A: " << probe.status();
  }
  auto method = requests.RequestSecurityMethod("ccf-a", "inv-3", {"PSK"}, "aef-1", "api-1");
  auto token = requests.ForwardToken("ccf-a", "inv-3", "3gpp#aef-1:api", "assertion", "");
  auto lookup = requests.LookupSecurityInfo("ccf-a", "inv-3", "aef-1", "");
  for (const absl::Status& s : {method.status(), token.status(), lookup.status()}) {
    EXPECT_EQ(s.code(), absl::StatusCode::kUnavailable) << s;
    EXPECT_NE(s.message().find("ccf-a is not answering"), std::string::npos) << s;
  }
  EXPECT_EQ(state.calls(), 2);
  EXPECT_EQ(requests.breaker_stats()[0].second.refused, 3u);

  // A answers the probe (a refusal is an answer): calls go through again.
  state.Release();
  prober.join();
  EXPECT_EQ(probe.status().code(), absl::StatusCode::kNotFound) << probe.status();
  EXPECT_TRUE(requests.breaker_stats()[0].second.answering);
  auto after = requests.LookupSecurityInfo("ccf-a", "inv-4", "aef-1", "");
  EXPECT_EQ(after.status().code(), absl::StatusCode::kNotFound) << after.status();
  EXPECT_EQ(state.calls(), 3);
  EXPECT_EQ(requests.LookupSecurityInfo("ccf-x", "inv-4", "aef-1", "").status().code(),
            absl::StatusCode::kNotFound);
}

// A home that answers every lookup with `destination` as the invoker's notificationDestination.
class DestinationPeer final : public StubLocalCcf {
 public:
  std::string destination;
  absl::StatusOr<RemoteSecurityInfo> LookupSecurityInfo(const Peer&, const std::string&,
                                                        const std::string&,
                                                        const std::string&) override {
    RemoteSecurityInfo info;
    info.method = "OAUTH";
    info.notification_destination = destination;
    return info;
  }
};

// The invoker's notificationDestination crosses the bus; what is not an http(s) URI of bounded
// size is dropped (the asker then answers its own API root), since it goes into a REST answer.
TEST(BusPeerRequestsTest, TheHomesNotificationDestinationIsKeptOnlyIfItIsAUri) {
  TestDomains domains(Clock::Real());
  DestinationPeer state;
  BusIdentity a = domains.Identity("a.example", "ccf-a");
  BusIdentity b = domains.Identity("b.example", "ccf-b");
  auto dir = *PeerDirectory::Create(
      {domains.PeerFor("b.example", "ccf-b", "unused:1", {fv1::OPERATION_LOOKUP_SECURITY_INFO})});
  auto server = BusServer::Start(a, dir, "127.0.0.1:0", Clock::Real(), &state);
  ASSERT_TRUE(server.ok()) << server.status();
  auto client = PeerClient::Create(
      b, domains.PeerFor("a.example", "ccf-a", absl::StrCat("127.0.0.1:", (*server)->port())),
      Clock::Real());
  BusPeerRequests requests({{CcfId("ccf-a"), client.get()}}, {});
  struct Case {
    std::string sent, kept;
  } cases[] = {
      {"https://inv.example/cb", "https://inv.example/cb"},
      {"http://10.0.0.1:8080/n", "http://10.0.0.1:8080/n"},
      {"", ""},
      {"javascript:alert(1)", ""},
      {"https://inv.example/a\r\nX-Injected: 1", ""},
      {"https://inv.example/" + std::string(3000, 'a'), ""},
  };
  for (const Case& c : cases) {
    state.destination = c.sent;
    auto info = requests.LookupSecurityInfo("ccf-a", "inv-1", "aef-1", "");
    ASSERT_TRUE(info.ok()) << info.status();
    EXPECT_EQ(info->notification_destination, c.kept) << c.sent.substr(0, 40);
  }
}

}  // namespace
}  // namespace capif
