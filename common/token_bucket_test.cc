#include "common/token_bucket.h"

#include <gtest/gtest.h>

namespace capif {
namespace {

TEST(TokenBucketTest, BurstThenRate) {
  absl::Time t = absl::FromUnixSeconds(1000);
  TokenBucket bucket(2, t);
  EXPECT_TRUE(bucket.TryTake(t));
  EXPECT_TRUE(bucket.TryTake(t));
  EXPECT_FALSE(bucket.TryTake(t));  // the burst of 2 is spent
  EXPECT_FALSE(bucket.TryTake(t + absl::Milliseconds(400)));
  EXPECT_TRUE(bucket.TryTake(t + absl::Milliseconds(500)));  // one more after 1/rate
  EXPECT_FALSE(bucket.TryTake(t + absl::Milliseconds(500)));
  // A long pause refills to the burst, never beyond.
  absl::Time later = t + absl::Hours(1);
  EXPECT_TRUE(bucket.TryTake(later));
  EXPECT_TRUE(bucket.TryTake(later));
  EXPECT_FALSE(bucket.TryTake(later));
  // Time going backwards adds nothing.
  EXPECT_FALSE(bucket.TryTake(t));
}

TEST(TokenBucketTest, RatesBelowOneStillAllowOne) {
  absl::Time t = absl::FromUnixSeconds(1000);
  TokenBucket bucket(0.5, t);
  EXPECT_TRUE(bucket.TryTake(t));
  EXPECT_FALSE(bucket.TryTake(t + absl::Seconds(1)));
  EXPECT_TRUE(bucket.TryTake(t + absl::Seconds(2)));
}

}  // namespace
}  // namespace capif
