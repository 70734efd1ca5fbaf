#include "jobs/job_tally.h"

#include <gtest/gtest.h>

namespace drover {
namespace {

TEST(JobTallyTest, ObservationsFallIntoTheFirstBucketThatHoldsThem) {
  BucketCounts b;
  b.Observe(0.001);  // an upper bound is inclusive (Prometheus' le)
  b.Observe(0.0011);
  b.Observe(-3);  // a clock step back counts as 0
  b.Observe(1e9);
  EXPECT_EQ(b.counts[0], 2);
  EXPECT_EQ(b.counts[1], 1);
  EXPECT_EQ(b.counts[kJobBucketCount - 1], 1);
  EXPECT_DOUBLE_EQ(b.sum, 0.0021 + 1e9);
}

TEST(JobTallyTest, LinesReadBackAsCounted) {
  JobTally t;
  EXPECT_TRUE(t.empty());
  t.Started("default", "resize", 0.02);
  t.Finished("default", "resize", JobOutcome::kSucceeded, 0.3);
  t.Finished("default", "resize", JobOutcome::kRetried, 2);
  t.Finished("mail", "send\xff", JobOutcome::kCancelled, 0);
  ASSERT_EQ(t.entries().size(), 2u);
  std::string lines = t.Lines();
  std::vector<std::pair<JobTally::Key, TallyEntry>> read;
  for (size_t start = 0, nl; (nl = lines.find('\n', start)) != std::string::npos; start = nl + 1) {
    std::string line = lines.substr(start, nl - start);
    ASSERT_EQ(line.rfind("tally ", 0), 0u) << line;
    auto e = ParseTally(line.substr(6));
    ASSERT_TRUE(e.has_value()) << line;
    read.push_back(*e);
  }
  ASSERT_EQ(read.size(), 2u);
  EXPECT_EQ(read[0].first, (JobTally::Key{"default", "resize"}));
  EXPECT_EQ(read[0].second.outcomes[static_cast<int>(JobOutcome::kSucceeded)], 1);
  EXPECT_EQ(read[0].second.outcomes[static_cast<int>(JobOutcome::kRetried)], 1);
  EXPECT_DOUBLE_EQ(read[0].second.duration.sum, 2.3);
  EXPECT_EQ(read[0].second.wait.counts[3], 1);  // 0.02 s: the 0.05 bucket
  EXPECT_EQ(read[1].first.first, "mail");
  EXPECT_EQ(read[1].first.second, "send\xEF\xBF\xBD") << "bad UTF-8 is replaced, not a broken line";
  EXPECT_TRUE(read[1].second.wait.empty());
  t.Clear();
  EXPECT_TRUE(t.empty());
  EXPECT_EQ(t.Lines(), "");
}

TEST(JobTallyTest, WhatIsNotATallyIsRefused) {
  for (const char* text : {"", "{}", "[]", "{\"q\":\"a\",\"t\":\"b\",\"o\":[1,2]}",
                           "{\"q\":\"a\",\"t\":\"b\",\"o\":[1,2,3,4,5,-6]}",
                           "{\"q\":\"a\",\"t\":\"b\",\"o\":[0,0,0,0,0,0],\"d\":[1,2]}"}) {
    EXPECT_FALSE(ParseTally(text).has_value()) << text;
  }
}

}  // namespace
}  // namespace drover
