#include "jobs/status_line.h"

#include <gtest/gtest.h>

namespace drover {
namespace {

TEST(StatusLineTest, ReadsProgressMessageAndCheckpoint) {
  Result<ProgressUpdate> u =
      ParseStatusLine(R"({"progress": 0.4, "message": "page 40/100", "checkpoint": {"page": 40}})");
  ASSERT_TRUE(u.ok()) << u.status().ToString();
  EXPECT_DOUBLE_EQ(*u->progress, 0.4);
  EXPECT_EQ(u->message, "page 40/100");
  EXPECT_EQ(u->checkpoint, R"({"page":40})");
}

TEST(StatusLineTest, EachFieldIsOptionalAndProgressIsClamped) {
  Result<ProgressUpdate> u = ParseStatusLine(R"({"progress": 7})");
  ASSERT_TRUE(u.ok());
  EXPECT_DOUBLE_EQ(*u->progress, 1.0);
  EXPECT_FALSE(u->message.has_value());
  EXPECT_FALSE(u->checkpoint.has_value());
  EXPECT_TRUE(ParseStatusLine("{}").ok());
}

TEST(StatusLineTest, RejectsWhatIsNotAStatusObject) {
  for (const char* bad : {"", "progress 0.4", "[0.4]", R"({"progress": "half"})", R"({"message": 3})"}) {
    EXPECT_FALSE(ParseStatusLine(bad).ok()) << bad;
  }
}

TEST(StatusLineTest, RefusesACheckpointOverTheLimit) {
  std::string fits = R"({"checkpoint": ")" + std::string(kMaxCheckpointBytes - 2, 'x') + "\"}";
  std::string over = R"({"checkpoint": ")" + std::string(kMaxCheckpointBytes - 1, 'x') + "\"}";
  EXPECT_TRUE(ParseStatusLine(fits).ok());
  Result<ProgressUpdate> u = ParseStatusLine(over);
  ASSERT_FALSE(u.ok());
  EXPECT_NE(u.status().message().find("over the limit of 64 KiB"), std::string::npos) << u.status().message();
}

}  // namespace
}  // namespace drover
