// The resolver against real in-process peer CCFs over mutual TLS.
#include "federation/ownership_resolver.h"

#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <thread>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/notification.h"
#include "common/fake_clock.h"
#include "federation/bus_server.h"
#include "federation/testing/stub_local_ccf.h"
#include "federation/testing/test_domains.h"

namespace capif {
namespace {

namespace fv1 = capif::federation::v1;


// A peer's local state: owns the invokers in `owned`; optionally never answers (until released).
class PeerState final : public StubLocalCcf {
 public:
  explicit PeerState(std::set<std::string> owned, bool hang = false)
      : owned_(std::move(owned)), hang_(hang) {}
  ~PeerState() override { Release(); }
  absl::StatusOr<bool> OwnsInvoker(const std::string& id) override {
    if (hang_) release_.WaitForNotification();
    return owned_.count(id) > 0;
  }
  void Release() {
    if (!release_.HasBeenNotified()) release_.Notify();
  }

 private:
  std::set<std::string> owned_;
  bool hang_;
  absl::Notification release_;
};

class OwnershipResolverTest : public ::testing::Test {
 protected:
  // Starts peer `name` (trust domain <name>.example) owning `owned`.
  void StartPeer(const std::string& name, std::set<std::string> owned, bool hang = false) {
    states_.push_back(std::make_unique<PeerState>(std::move(owned), hang));
    BusIdentity self = domains_.Identity(name + ".example", "ccf-" + name);
    auto dir = *PeerDirectory::Create({domains_.PeerFor(
        "a.example", "ccf-a", "unused:1", {fv1::OPERATION_QUERY_INVOKER_OWNERSHIP})});
    auto server = BusServer::Start(self, dir, "127.0.0.1:0", Clock::Real(), states_.back().get());
    ASSERT_TRUE(server.ok()) << server.status();
    AddClient(name, absl::StrCat("127.0.0.1:", (*server)->port()));
    servers_.push_back(*std::move(server));
  }
  void AddClient(const std::string& name, const std::string& endpoint) {
    clients_.push_back(PeerClient::Create(a_, domains_.PeerFor(name + ".example", "ccf-" + name, endpoint),
                                          Clock::Real()));
    peers_.emplace_back(CcfId("ccf-" + name), clients_.back().get());
  }
  // Peer "dead": a port bound but not listening, so connections are refused at once. Returns
  // the socket to close at the end.
  int AddDeadPeer() {
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr));
    socklen_t len = sizeof(addr);
    getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
    domains_.Ca("dead.example");
    AddClient("dead", absl::StrCat("127.0.0.1:", ntohs(addr.sin_port)));
    return fd;
  }
  OwnershipResolver Resolver(absl::Duration deadline = absl::Seconds(10)) {
    OwnershipResolver::Options o;
    o.deadline = deadline;
    o.max_in_flight = 2;
    return OwnershipResolver(peers_, clock_, o);
  }

  FakeClock clock_;
  TestDomains domains_{Clock::Real()};
  BusIdentity a_ = domains_.Identity("a.example", "ccf-a");
  std::vector<std::unique_ptr<PeerState>> states_;
  std::vector<std::unique_ptr<BusServer>> servers_;
  std::vector<std::unique_ptr<PeerClient>> clients_;
  std::vector<std::pair<CcfId, PeerClient*>> peers_;
};

TEST_F(OwnershipResolverTest, ExactlyOneClaimWinsAndIsCachedForItsTtl) {
  StartPeer("b", {});
  StartPeer("c", {"inv-1"});
  StartPeer("d", {});
  OwnershipResolver r = Resolver();
  auto owner = r.Resolve(ApiInvokerId("inv-1"));
  ASSERT_TRUE(owner.ok()) << owner.status();
  EXPECT_EQ(owner->value(), "ccf-c");
  EXPECT_EQ(r.queries_sent(), 3);
  EXPECT_EQ(r.Resolve(ApiInvokerId("inv-1"))->value(), "ccf-c");
  EXPECT_EQ(r.queries_sent(), 3);  // from the cache
  clock_.Advance(absl::Minutes(5) + absl::Seconds(1));  // the peers' positive TTL is 5 minutes
  EXPECT_EQ(r.Resolve(ApiInvokerId("inv-1"))->value(), "ccf-c");
  EXPECT_EQ(r.queries_sent(), 6);
  r.Forget(ApiInvokerId("inv-1"));
  EXPECT_TRUE(r.Resolve(ApiInvokerId("inv-1")).ok());
  EXPECT_EQ(r.queries_sent(), 9);
}

TEST_F(OwnershipResolverTest, NoClaimIsNotFoundAndCachedNegatively) {
  StartPeer("b", {});
  StartPeer("c", {});
  OwnershipResolver r = Resolver();
  EXPECT_EQ(r.Resolve(ApiInvokerId("inv-x")).status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(r.Resolve(ApiInvokerId("inv-x")).status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(r.queries_sent(), 2);
  clock_.Advance(absl::Seconds(61));  // negative TTL of the peers: 1 minute
  EXPECT_EQ(r.Resolve(ApiInvokerId("inv-x")).status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(r.queries_sent(), 4);
}

TEST_F(OwnershipResolverTest, TwoClaimsAreRefusedAndNotCached) {
  StartPeer("b", {"inv-2"});
  StartPeer("c", {"inv-2"});
  OwnershipResolver r = Resolver();
  EXPECT_EQ(r.Resolve(ApiInvokerId("inv-2")).status().code(),
            absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(r.Resolve(ApiInvokerId("inv-2")).status().code(),
            absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(r.queries_sent(), 4);
}

TEST_F(OwnershipResolverTest, DeadPeerDoesNotBlockAClaimButPreventsANegativeAnswer) {
  StartPeer("b", {"inv-3"});
  int fd = AddDeadPeer();
  OwnershipResolver r = Resolver(absl::Seconds(5));
  EXPECT_EQ(r.Resolve(ApiInvokerId("inv-3"))->value(), "ccf-b");
  EXPECT_EQ(r.Resolve(ApiInvokerId("inv-none")).status().code(), absl::StatusCode::kUnavailable);
  close(fd);
}

TEST_F(OwnershipResolverTest, SlowPeerDoesNotHoldTheAnswerPastTheDeadline) {
  StartPeer("b", {"inv-4"});
  StartPeer("slow", {}, /*hang=*/true);
  OwnershipResolver r = Resolver(absl::Milliseconds(300));
  absl::Time start = absl::Now();
  auto owner = r.Resolve(ApiInvokerId("inv-4"));
  absl::Duration took = absl::Now() - start;
  ASSERT_TRUE(owner.ok()) << owner.status();
  EXPECT_EQ(owner->value(), "ccf-b");
  EXPECT_LT(took, absl::Seconds(5));  // bounded by the 300 ms deadline, with slack for CI
  states_.back()->Release();
}

// Issue 10 (ownership fan-out): an unanswered fan-out is cached for retry_after, so that a peer
// outage does not make every request ask every peer again.
TEST_F(OwnershipResolverTest, AnUnansweredFanOutIsNotRepeatedWithinRetryAfter) {
  StartPeer("b", {});
  int fd = AddDeadPeer();
  OwnershipResolver r = Resolver(absl::Seconds(1));  // calls wait for the dead peer until then
  EXPECT_EQ(r.Resolve(ApiInvokerId("inv-none")).status().code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(r.queries_sent(), 2);
  EXPECT_EQ(r.Resolve(ApiInvokerId("inv-none")).status().code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(r.queries_sent(), 2);  // from the cache
  clock_.Advance(absl::Seconds(6));
  EXPECT_EQ(r.Resolve(ApiInvokerId("inv-none")).status().code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(r.queries_sent(), 4);
  close(fd);
}

// Issue 10 (problem 8's CCF side): invented invoker ids cannot turn into unbounded fan-outs.
TEST_F(OwnershipResolverTest, NewFanOutsAreRateLimited) {
  StartPeer("b", {});
  StartPeer("c", {"inv-c"});
  OwnershipResolver::Options o;
  o.deadline = absl::Seconds(10);
  o.fanouts_per_second = 2;  // burst of 2
  OwnershipResolver r(peers_, clock_, o);
  EXPECT_EQ(r.Resolve(ApiInvokerId("inv-x1")).status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(r.Resolve(ApiInvokerId("inv-c"))->value(), "ccf-c");
  absl::Status refused = r.Resolve(ApiInvokerId("inv-x2")).status();
  EXPECT_EQ(refused.code(), absl::StatusCode::kUnavailable) << refused;
  EXPECT_EQ(r.queries_sent(), 4);  // nothing asked for inv-x2
  EXPECT_EQ(r.Resolve(ApiInvokerId("inv-c"))->value(), "ccf-c");  // cached answers still flow
  clock_.Advance(absl::Milliseconds(500));
  EXPECT_EQ(r.Resolve(ApiInvokerId("inv-x2")).status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(r.queries_sent(), 6);
}

TEST_F(OwnershipResolverTest, ConcurrentResolvesShareOneFanOut) {
  StartPeer("slow", {"inv-5"}, /*hang=*/true);
  OwnershipResolver r = Resolver();
  std::vector<std::thread> callers;
  for (int i = 0; i < 4; ++i) {
    callers.emplace_back([&] {
      auto owner = r.Resolve(ApiInvokerId("inv-5"));
      ASSERT_TRUE(owner.ok()) << owner.status();
      EXPECT_EQ(owner->value(), "ccf-slow");
    });
  }
  while (r.queries_sent() == 0) std::this_thread::yield();
  states_.back()->Release();
  for (std::thread& t : callers) t.join();
  EXPECT_EQ(r.queries_sent(), 1);
}

}  // namespace
}  // namespace capif
