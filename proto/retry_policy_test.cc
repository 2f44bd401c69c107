#include "proto/retry_policy.h"

#include "gtest/gtest.h"

namespace condense::retry {
namespace {

TEST(RetryPolicyTest, TransientCodes) {
  EXPECT_TRUE(IsTransient(absl::StatusCode::kUnavailable));
  EXPECT_TRUE(IsTransient(absl::StatusCode::kAborted));
  EXPECT_FALSE(IsTransient(absl::StatusCode::kCancelled));
  EXPECT_FALSE(IsTransient(absl::StatusCode::kInvalidArgument));
  EXPECT_TRUE(IsTransient(absl::StatusCode::kCancelled, CallKind::kStream));
  EXPECT_TRUE(
      IsTransient(absl::StatusCode::kDeadlineExceeded, CallKind::kStream));
  EXPECT_TRUE(IsTransient(absl::StatusCode::kUnavailable, CallKind::kStream));
  EXPECT_FALSE(IsTransient(absl::StatusCode::kNotFound, CallKind::kStream));
}

TEST(RetryPolicyTest, BackoffDoublesToItsCap) {
  EXPECT_EQ(Backoff(1), absl::Milliseconds(200));
  EXPECT_EQ(Backoff(2), absl::Milliseconds(400));
  EXPECT_EQ(Backoff(3), absl::Milliseconds(800));
  EXPECT_EQ(Backoff(10), absl::Seconds(5));
  EXPECT_EQ(MaxAttempts(), 30);
}

}  // namespace
}  // namespace condense::retry
