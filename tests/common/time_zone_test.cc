#include "common/time_zone.h"

#include <gtest/gtest.h>

#include "common/time_util.h"

namespace drover {
namespace {

std::int64_t At(const char* rfc3339) { return *ParseRfc3339(rfc3339) / 1000; }

TEST(CivilTest, DaysRoundTripAndKnownWeekdays) {
  EXPECT_EQ(DaysFromCivil(1970, 1, 1), 0);
  EXPECT_EQ(DaysFromCivil(2000, 3, 1), 11'017);
  EXPECT_EQ(Weekday(DaysFromCivil(2026, 11, 23)), 1);  // a Monday
  EXPECT_EQ(Weekday(DaysFromCivil(1969, 12, 31)), 3);  // a Wednesday, before the epoch
  for (std::int64_t d = -800'000; d < 800'000; d += 13) {
    int y, m, day;
    CivilFromDays(d, &y, &m, &day);
    ASSERT_EQ(DaysFromCivil(y, m, day), d);
  }
  EXPECT_EQ(DaysInMonth(2028, 2), 29);
  EXPECT_EQ(DaysInMonth(2100, 2), 28);
  EXPECT_EQ(DaysInMonth(2000, 2), 29);
}

TEST(CivilTest, NextMinuteRollsOverTheYear) {
  EXPECT_EQ(NextMinute({2026, 12, 31, 23, 59}), (CivilMinute{2027, 1, 1, 0, 0}));
  EXPECT_EQ(NextMinute({2028, 2, 28, 23, 59}), (CivilMinute{2028, 2, 29, 0, 0}));
}

TEST(TimeZoneTest, UnknownZonesAreRefusedByName) {
  Result<TimeZone> z = TimeZone::Load("Mars/Olympus_Mons");
  ASSERT_FALSE(z.ok());
  EXPECT_NE(z.status().message().find("Mars/Olympus_Mons"), std::string::npos);
  EXPECT_FALSE(TimeZone::Load("../../etc/passwd").ok());
  EXPECT_FALSE(TimeZone::Load("").ok());
}

TEST(TimeZoneTest, OffsetsFollowDaylightSavingIncludingFarFutureRules) {
  TimeZone berlin = *TimeZone::Load("Europe/Berlin");
  EXPECT_EQ(berlin.OffsetAt(At("2026-01-15T12:00:00Z")), 3600);
  EXPECT_EQ(berlin.OffsetAt(At("2026-07-15T12:00:00Z")), 7200);
  EXPECT_EQ(berlin.OffsetAt(At("2026-03-29T00:59:59Z")), 3600);
  EXPECT_EQ(berlin.OffsetAt(At("2026-03-29T01:00:00Z")), 7200);
  // Past the last transition listed in the zone file: the file's rule string applies.
  EXPECT_EQ(berlin.OffsetAt(At("2041-07-15T12:00:00Z")), 7200);
  EXPECT_EQ(berlin.OffsetAt(At("2041-12-15T12:00:00Z")), 3600);
  TimeZone utc = *TimeZone::Load("UTC");
  EXPECT_EQ(utc.OffsetAt(At("2026-07-15T12:00:00Z")), 0);
}

TEST(TimeZoneTest, LookupsLeaveTheProcessZoneAlone) {
  setenv("TZ", "America/New_York", 1);
  tzset();
  TimeZone berlin = *TimeZone::Load("Europe/Berlin");
  (void)berlin.OffsetAt(0);
  EXPECT_STREQ(getenv("TZ"), "America/New_York");
  unsetenv("TZ");
  (void)berlin.OffsetAt(0);
  EXPECT_EQ(getenv("TZ"), nullptr);
  tzset();
}

TEST(TimeZoneTest, WallClockTimesInGapsAndRepeats) {
  TimeZone berlin = *TimeZone::Load("Europe/Berlin");
  bool gap = false;
  // An ordinary time has one instant.
  EXPECT_EQ(berlin.Instants({2026, 6, 1, 12, 0}, &gap),
            std::vector<std::int64_t>{At("2026-06-01T10:00:00Z")});
  EXPECT_FALSE(gap);
  // 02:30 does not exist on 2026-03-29: it is read with the offset before the jump (03:30 CEST).
  EXPECT_EQ(berlin.Instants({2026, 3, 29, 2, 30}, &gap),
            std::vector<std::int64_t>{At("2026-03-29T01:30:00Z")});
  EXPECT_TRUE(gap);
  // 02:30 happens twice on 2026-10-25: first in CEST, then in CET.
  EXPECT_EQ(berlin.Instants({2026, 10, 25, 2, 30}, &gap),
            (std::vector<std::int64_t>{At("2026-10-25T00:30:00Z"), At("2026-10-25T01:30:00Z")}));
  EXPECT_FALSE(gap);
  EXPECT_EQ(berlin.ToCivil(At("2026-10-25T01:30:00Z")), (CivilMinute{2026, 10, 25, 2, 30}));
}

}  // namespace
}  // namespace drover
