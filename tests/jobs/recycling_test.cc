#include "jobs/recycling.h"

#include <gtest/gtest.h>

namespace drover {
namespace {

TEST(RecyclingTest, EachLimitRecyclesOnceReached) {
  PoolConfig p;
  p.max_jobs = 100;
  p.max_age = Duration(3'600'000);
  p.max_memory = 512ULL << 20;
  EXPECT_EQ(RecycleReason(p, 99, 0, 0), "");
  EXPECT_EQ(RecycleReason(p, 100, 0, 0), "ran 100 jobs (max_jobs)");
  EXPECT_EQ(RecycleReason(p, 0, 3'600'000'000LL, 0), "older than max_age 1h");
  EXPECT_EQ(RecycleReason(p, 0, 3'599'999'999LL, 0), "");
  EXPECT_EQ(RecycleReason(p, 0, 0, (512ULL << 20) + 4096), "RSS 524292KiB above max_memory 512MiB");
  EXPECT_EQ(RecycleReason(p, 0, 0, 512ULL << 20), "");
}

TEST(RecyclingTest, ZeroMeansNoLimit) {
  PoolConfig p;
  p.max_jobs = 0;
  p.max_age = Duration(0);
  p.max_memory = 0;
  EXPECT_EQ(RecycleReason(p, 1'000'000, 1'000'000'000'000LL, 1ULL << 40), "");
}

TEST(RecyclingTest, ResidentMemoryIsMeasured) {
  EXPECT_GT(ResidentBytes(), 1u << 20);  // this test binary takes more than a MiB
}

}  // namespace
}  // namespace drover
