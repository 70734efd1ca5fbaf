#include "common/time_util.h"

#include <gtest/gtest.h>

namespace drover {
namespace {

TEST(Rfc3339Test, FormatsUtcWithMilliseconds) {
  EXPECT_EQ(FormatRfc3339(0), "1970-01-01T00:00:00.000Z");
  EXPECT_EQ(FormatRfc3339(1'767'226'500'123), "2026-01-01T00:15:00.123Z");
}

TEST(Rfc3339Test, ParsesZuluOffsetsAndFractions) {
  EXPECT_EQ(*ParseRfc3339("2026-01-01T00:15:00Z"), 1'767'226'500'000);
  EXPECT_EQ(*ParseRfc3339("2026-01-01T01:15:00+01:00"), 1'767'226'500'000);
  EXPECT_EQ(*ParseRfc3339("2025-12-31T23:15:00-01:00"), 1'767'226'500'000);
  EXPECT_EQ(*ParseRfc3339("2026-01-01T00:15:00.5Z"), 1'767'226'500'500);
  EXPECT_EQ(*ParseRfc3339(FormatRfc3339(1'767'226'500'123)), 1'767'226'500'123);
}

TEST(Rfc3339Test, RejectsMalformed) {
  for (const char* s : {"", "2026-01-01", "2026-01-01T00:15:00", "2026-13-01T00:00:00Z", "tomorrow",
                        "2026-01-01T00:15:00Zjunk"}) {
    EXPECT_FALSE(ParseRfc3339(s).ok()) << s;
  }
}

TEST(ClockTest, MonotonicNeverGoesBack) {
  std::int64_t a = MonotonicUs();
  std::int64_t b = MonotonicUs();
  EXPECT_LE(a, b);
  EXPECT_GT(NowMs(), 1'700'000'000'000);
}

}  // namespace
}  // namespace drover
