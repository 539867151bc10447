#include "common/clock.h"

#include <gtest/gtest.h>

#include "absl/time/clock.h"
#include "common/fake_clock.h"

namespace capif {
namespace {

TEST(FakeClockTest, MovesOnlyWhenTold) {
  FakeClock clock(absl::FromUnixSeconds(1000));
  EXPECT_EQ(clock.Now(), absl::FromUnixSeconds(1000));
  clock.Advance(absl::Seconds(90));
  EXPECT_EQ(clock.Now(), absl::FromUnixSeconds(1090));
  clock.Set(absl::FromUnixSeconds(5));
  EXPECT_EQ(clock.Now(), absl::FromUnixSeconds(5));
}

TEST(RealClockTest, IsCloseToAbslNow) {
  absl::Duration diff = Clock::Real().Now() - absl::Now();
  EXPECT_LT(absl::AbsDuration(diff), absl::Seconds(5));
}

}  // namespace
}  // namespace capif
