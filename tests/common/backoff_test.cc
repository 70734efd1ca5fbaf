#include "common/backoff.h"

#include <gtest/gtest.h>

namespace drover {
namespace {

TEST(BackoffTest, DoublesFromTheFirstDelayUpToTheCap) {
  std::mt19937_64 rng(1);
  BackoffPolicy p{Duration(1000), Duration(10'000), 0};
  EXPECT_EQ(BackoffDelay(p, 1, rng).count(), 1000);
  EXPECT_EQ(BackoffDelay(p, 2, rng).count(), 2000);
  EXPECT_EQ(BackoffDelay(p, 4, rng).count(), 8000);
  EXPECT_EQ(BackoffDelay(p, 5, rng).count(), 10'000);
  EXPECT_EQ(BackoffDelay(p, 1000, rng).count(), 10'000);  // no overflow far out
  EXPECT_EQ(BackoffDelay(p, 0, rng).count(), 1000);
}

TEST(BackoffTest, JitterStaysWithinItsBandAndVaries) {
  std::mt19937_64 rng(7);
  BackoffPolicy p{Duration(1000), Duration(1'000'000), 0.25};
  std::int64_t lo = 1'000'000, hi = 0;
  for (int i = 0; i < 1000; ++i) {
    std::int64_t d = BackoffDelay(p, 3, rng).count();  // 4000 +- 25%
    lo = std::min(lo, d);
    hi = std::max(hi, d);
  }
  EXPECT_GE(lo, 3000);
  EXPECT_LT(hi, 5000);
  EXPECT_GT(hi - lo, 1000);
}

}  // namespace
}  // namespace drover
