#include "common/duration.h"

#include <gtest/gtest.h>

namespace drover {
namespace {

TEST(ParseDurationTest, AcceptsUnitsAndSums) {
  struct Case {
    const char* text;
    std::int64_t ms;
  } cases[] = {{"250ms", 250},      {"30s", 30'000},     {"5m", 300'000}, {"1h30m", 5'400'000},
               {"3d", 259'200'000}, {"1w", 604'800'000}, {"0s", 0},       {"1m30s250ms", 90'250}};
  for (const Case& c : cases) {
    Result<Duration> d = ParseDuration(c.text);
    ASSERT_TRUE(d.ok()) << c.text << ": " << d.status().ToString();
    EXPECT_EQ(d->count(), c.ms) << c.text;
  }
}

TEST(ParseDurationTest, RejectsBadInputWithReason) {
  struct Case {
    const char* text;
    const char* reason;
  } cases[] = {{"", "empty"},
               {"-5s", "negative"},
               {"30", "missing unit"},
               {"5y", "unknown unit"},
               {"s", "expected a number"},
               {"99999999999999999999s", "expected a number"},
               {"9999999999999d", "too large"},
               {"200000000d", "at most 36500d"},
               {"36501d", "too large"}};
  for (const Case& c : cases) {
    Result<Duration> d = ParseDuration(c.text);
    ASSERT_FALSE(d.ok()) << c.text;
    EXPECT_NE(d.status().message().find(c.reason), std::string::npos) << d.status().message();
    EXPECT_NE(d.status().message().find(c.text), std::string::npos) << d.status().message();
  }
}

TEST(FormatDurationTest, RoundTrips) {
  for (const char* text : {"250ms", "30s", "1h30m", "3d", "1d2h3m4s5ms"}) {
    EXPECT_EQ(FormatDuration(*ParseDuration(text)), text);
  }
  EXPECT_EQ(FormatDuration(Duration(0)), "0s");
}

TEST(ParseSizeTest, BinaryDecimalAndBytes) {
  EXPECT_EQ(*ParseSize("512MiB"), 512ULL << 20);
  EXPECT_EQ(*ParseSize("1KB"), 1000u);
  EXPECT_EQ(*ParseSize("4096"), 4096u);
  EXPECT_EQ(*ParseSize("2GiB"), 2ULL << 30);
  EXPECT_FALSE(ParseSize("12 MiB").ok());
  EXPECT_FALSE(ParseSize("12mb").ok());
  EXPECT_FALSE(ParseSize("-1").ok());
  EXPECT_FALSE(ParseSize("").ok());
  EXPECT_EQ(FormatSize(512ULL << 20), "512MiB");
  EXPECT_EQ(FormatSize(1000), "1000B");
}

}  // namespace
}  // namespace drover
