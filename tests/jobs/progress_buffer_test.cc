#include "jobs/progress_buffer.h"

#include <gtest/gtest.h>

namespace drover {
namespace {

TEST(ProgressBufferTest, ReportsMergeLatestWinsAndAreWrittenAtMostEveryInterval) {
  ProgressBuffer b;
  EXPECT_EQ(b.due_us(), 0);
  EXPECT_FALSE(b.Take(1000));
  b.AddStatusLines(7, {R"({"progress":0.25,"message":"a"})", R"({"progress":0.5})", "not json"});
  EXPECT_EQ(b.due_us(), ProgressBuffer::kWriteIntervalUs);  // never written: due at once
  EXPECT_FALSE(b.has_checkpoint());
  std::optional<ProgressUpdate> u = b.Take(1'000'000);
  ASSERT_TRUE(u);
  EXPECT_EQ(u->progress, 0.5);
  EXPECT_EQ(u->message, "a");
  EXPECT_EQ(b.due_us(), 0);

  b.Merge({std::nullopt, std::nullopt, R"({"page":3})"});
  EXPECT_TRUE(b.has_checkpoint());
  EXPECT_EQ(b.due_us(), 1'000'000 + ProgressBuffer::kWriteIntervalUs);
  u = b.Take(2'000'000);
  ASSERT_TRUE(u);
  EXPECT_FALSE(u->progress);
  EXPECT_EQ(u->checkpoint, R"({"page":3})");
}

}  // namespace
}  // namespace drover
