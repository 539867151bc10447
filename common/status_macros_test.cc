#include "common/status_macros.h"

#include <gtest/gtest.h>

namespace capif {
namespace {

absl::StatusOr<int> Half(int x) {
  if (x % 2 != 0) return absl::InvalidArgumentError("odd");
  return x / 2;
}

absl::StatusOr<int> Quarter(int x) {
  ASSIGN_OR_RETURN(int h, Half(x));
  ASSIGN_OR_RETURN(int q, Half(h));  // two uses in one function must not collide
  return q;
}

absl::Status CheckEven(int x, int* calls) {
  ++*calls;
  RETURN_IF_ERROR(Half(x).status());
  return absl::OkStatus();
}

TEST(StatusMacrosTest, AssignOrReturnUnwrapsAndPropagates) {
  EXPECT_EQ(*Quarter(8), 2);
  EXPECT_EQ(Quarter(6).status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(Quarter(7).status().message(), "odd");
}

TEST(StatusMacrosTest, ReturnIfErrorEvaluatesOnce) {
  int calls = 0;
  EXPECT_TRUE(CheckEven(4, &calls).ok());
  EXPECT_EQ(CheckEven(5, &calls).code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(calls, 2);
}

}  // namespace
}  // namespace capif
