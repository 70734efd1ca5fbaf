#include "jobs/schedule.h"

#include <gtest/gtest.h>

#include "common/time_util.h"

namespace drover {
namespace {

std::int64_t At(const char* t) { return *ParseRfc3339(t); }

ScheduleConfig Every(Duration every, std::optional<std::int64_t> anchor = std::nullopt) {
  ScheduleConfig s;
  s.name = "s";
  s.job = "report";
  s.every = every;
  s.anchor_ms = anchor;
  return s;
}

TEST(TimetableTest, EveryHourAtQuarterPastFromAnAnchor) {
  Timetable t = *Timetable::FromConfig(Every(Duration(3'600'000), At("2026-01-01T00:15:00Z")));
  EXPECT_EQ(*t.Next(At("2026-11-23T09:00:00Z")), At("2026-11-23T09:15:00Z"));
  EXPECT_EQ(*t.Next(At("2026-11-23T09:15:00Z")), At("2026-11-23T10:15:00Z"));  // strictly after
  EXPECT_EQ(*t.Next(At("2026-11-23T09:14:59.999Z")), At("2026-11-23T09:15:00Z"));
  // Before the anchor the same grid applies.
  EXPECT_EQ(*t.Next(At("2025-06-01T00:20:00Z")), At("2025-06-01T01:15:00Z"));
  EXPECT_EQ(*t.Next(At("2025-06-01T00:15:00Z")), At("2025-06-01T01:15:00Z"));
}

TEST(TimetableTest, EveryWithoutAnchorCountsFromTheEpoch) {
  Timetable t = *Timetable::FromConfig(Every(Duration(300'000)));
  EXPECT_EQ(*t.Next(At("2026-11-23T09:01:00Z")), At("2026-11-23T09:05:00Z"));
  EXPECT_EQ(t.spec(), "every 5m from 1970-01-01T00:00:00.000Z");
}

TEST(TimetableTest, CronFollowsItsTimeZone) {
  ScheduleConfig s;
  s.name = "nightly";
  s.job = "report";
  s.cron = "0 3 * * *";
  s.timezone = "Europe/Berlin";
  Timetable t = *Timetable::FromConfig(s);
  EXPECT_EQ(*t.Next(At("2026-11-23T09:00:00Z")), At("2026-11-24T02:00:00Z"));
  EXPECT_EQ(*t.Next(At("2026-07-01T09:00:00Z")), At("2026-07-02T01:00:00Z"));
  EXPECT_EQ(t.spec(), "cron 0 3 * * * in Europe/Berlin");
  s.cron = "0 3 * * * *";
  EXPECT_FALSE(Timetable::FromConfig(s).ok());
}

TEST(TimetableTest, ScheduledRunsCarryTheTypeSettingsAndASlotKey) {
  ScheduleConfig s = Every(Duration(60'000));
  s.payload = R"({"kind":"nightly"})";
  JobTypeConfig type;
  type.name = "report";
  type.queue = "reports";
  type.priority = 7;
  type.max_attempts = 2;
  EnqueueRequest r = ScheduledRun(s, type, At("2026-11-23T09:15:00Z"));
  EXPECT_EQ(r.type, "report");
  EXPECT_EQ(r.queue, "reports");
  EXPECT_EQ(r.priority, 7);
  EXPECT_EQ(r.max_attempts, 2);
  EXPECT_EQ(r.payload, R"({"kind":"nightly"})");
  EXPECT_EQ(r.unique_key, "schedule:s:2026-11-23T09:15:00.000Z");
}

}  // namespace
}  // namespace drover
