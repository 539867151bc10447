#include "federation/peer_breaker.h"

#include <gtest/gtest.h>

#include <optional>
#include <utility>

namespace capif {
namespace {

const grpc::Status kDeadline(grpc::StatusCode::DEADLINE_EXCEEDED, "deadline");
const grpc::Status kUnavailable(grpc::StatusCode::UNAVAILABLE, "connection refused");

TEST(PeerBreakerTest, AnsweringPeerAdmitsEveryConcurrentCall) {
  PeerBreaker breaker("ccf-a");
  auto first = breaker.Admit();
  auto second = breaker.Admit();
  ASSERT_TRUE(first.ok());
  ASSERT_TRUE(second.ok());
  EXPECT_FALSE(first->probe());
  first->Done(grpc::Status::OK);
  second->Done(grpc::Status(grpc::StatusCode::PERMISSION_DENIED, "not yours"));
  EXPECT_TRUE(breaker.stats().answering);
}

TEST(PeerBreakerTest, AfterNoAnswerOneProbeAtATimeAndTheRestFailAtOnce) {
  PeerBreaker breaker("ccf-a");
  breaker.Admit()->Done(kDeadline);
  EXPECT_FALSE(breaker.stats().answering);

  auto probe = breaker.Admit();
  ASSERT_TRUE(probe.ok());
  EXPECT_TRUE(probe->probe());
  auto refused = breaker.Admit();
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_NE(refused.status().message().find("ccf-a"), std::string::npos);
  EXPECT_EQ(breaker.stats().refused, 1u);

  // The probe fails too: the next call is the next probe.
  probe->Done(kUnavailable);
  auto next = breaker.Admit();
  ASSERT_TRUE(next.ok());
  EXPECT_TRUE(next->probe());
  EXPECT_FALSE(breaker.Admit().ok());
  EXPECT_EQ(breaker.stats().refused, 2u);

  // Any status the peer itself sent means it answers again.
  next->Done(grpc::Status(grpc::StatusCode::NOT_FOUND, "no such invoker"));
  EXPECT_TRUE(breaker.stats().answering);
  auto a = breaker.Admit();
  auto b = breaker.Admit();
  EXPECT_TRUE(a.ok() && b.ok());
  EXPECT_FALSE(a->probe());
}

TEST(PeerBreakerTest, APassDroppedWithoutAStatusCountsAsNoAnswer) {
  PeerBreaker breaker("ccf-a");
  { auto pass = breaker.Admit(); }
  EXPECT_FALSE(breaker.stats().answering);
  std::optional<absl::StatusOr<PeerBreaker::Pass>> probe(breaker.Admit());
  EXPECT_TRUE(probe->ok());
  EXPECT_FALSE(breaker.Admit().ok());
  probe.reset();  // the probe ends without a status: the next call probes again
  auto next = breaker.Admit();
  ASSERT_TRUE(next.ok());
  EXPECT_TRUE(next->probe());
}

TEST(PeerBreakerTest, AMovedPassReportsOnce) {
  PeerBreaker breaker("ccf-a");
  breaker.Admit()->Done(kDeadline);  // not answering: the next pass is the probe
  {
    auto pass = breaker.Admit();
    ASSERT_TRUE(pass.ok());
    ASSERT_TRUE(pass->probe());
    PeerBreaker::Pass moved(std::move(*pass));
    moved.Done(grpc::Status::OK);
  }  // the moved-from pass is destroyed here: it must not report "no answer" after the OK
  EXPECT_TRUE(breaker.stats().answering);
  auto next = breaker.Admit();
  ASSERT_TRUE(next.ok());
  EXPECT_FALSE(next->probe());
}

}  // namespace
}  // namespace capif
