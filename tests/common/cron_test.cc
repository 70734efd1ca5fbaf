#include "common/cron.h"

#include <gtest/gtest.h>

#include <map>

#include "common/time_util.h"

namespace drover {
namespace {

// The next firing after `after` as an RFC 3339 UTC string (seconds precision dropped).
std::string Next(const char* expr, const char* zone, const char* after) {
  Result<CronExpr> e = CronExpr::Parse(expr);
  EXPECT_TRUE(e.ok()) << expr << ": " << e.status().ToString();
  if (!e.ok()) return "parse error";
  Result<TimeZone> tz = TimeZone::Load(zone);
  EXPECT_TRUE(tz.ok());
  std::optional<std::int64_t> t = e->Next(*ParseRfc3339(after) / 1000, *tz);
  if (!t) return "never";
  std::string s = FormatRfc3339(*t * 1000);
  return s.substr(0, 16) + "Z";  // 2026-01-01T00:15Z
}

struct Case {
  const char* expr;
  const char* zone;
  const char* after;
  const char* next;
};

TEST(CronTest, NextFiringTable) {
  const Case cases[] = {
      {"*/15 * * * *", "UTC", "2026-01-01T00:07:00Z", "2026-01-01T00:15Z"},
      {"*/15 * * * *", "UTC", "2026-01-01T00:15:00Z", "2026-01-01T00:30Z"},  // strictly after
      {"*/15 * * * *", "UTC", "2026-01-01T00:14:59.999Z", "2026-01-01T00:15Z"},
      {"0 3 * * *", "UTC", "2026-01-01T03:00:00Z", "2026-01-02T03:00Z"},
      {"10-20/5 * * * *", "UTC", "2026-01-01T00:16:00Z", "2026-01-01T00:20Z"},
      {"10-20/5 * * * *", "UTC", "2026-01-01T00:20:00Z", "2026-01-01T01:10Z"},
      {"5/20 * * * *", "UTC", "2026-01-01T00:26:00Z", "2026-01-01T00:45Z"},
      {"0 0 29 2 *", "UTC", "2026-01-01T00:00:00Z", "2028-02-29T00:00Z"},  // leap day
      {"0 0 29 2 *", "UTC", "2096-03-01T00:00:00Z", "2104-02-29T00:00Z"},  // 2100 is no leap year
      {"0 0 31 * *", "UTC", "2026-04-01T00:00:00Z", "2026-05-31T00:00Z"},  // April has 30 days
      {"0 0 30 * *", "UTC", "2026-02-01T00:00:00Z", "2026-03-30T00:00Z"},  // February has none
      {"59 23 31 12 *", "UTC", "2026-12-31T23:59:00Z", "2027-12-31T23:59Z"},
      // Day of month OR day of week when both are restricted; AND when one starts with `*`.
      {"0 0 13 * 5", "UTC", "2026-11-01T00:00:00Z", "2026-11-06T00:00Z"},
      {"0 0 13 * *", "UTC", "2026-11-01T00:00:00Z", "2026-11-13T00:00Z"},
      {"0 0 */2 * 5", "UTC", "2026-11-01T00:00:00Z", "2026-11-13T00:00Z"},
      {"0 12 * * 7", "UTC", "2026-11-23T00:00:00Z", "2026-11-29T12:00Z"},  // 7 is Sunday
      {"0 12 * * SUN", "UTC", "2026-11-23T00:00:00Z", "2026-11-29T12:00Z"},
      {"30 4 * JAN-mar mon-FRI", "UTC", "2026-03-31T05:00:00Z", "2027-01-01T04:30Z"},
      {"@hourly", "UTC", "2026-01-01T00:00:00Z", "2026-01-01T01:00Z"},
      {"@weekly", "UTC", "2026-11-23T00:00:00Z", "2026-11-29T00:00Z"},
      {"@yearly", "UTC", "2026-11-23T00:00:00Z", "2027-01-01T00:00Z"},
      // Time zones: 09:00 in New York is 14:00Z in winter, 13:00Z once daylight saving starts.
      {"0 9 * * *", "America/New_York", "2026-03-07T15:00:00Z", "2026-03-08T13:00Z"},
      {"0 9 * * *", "America/New_York", "2026-03-06T15:00:00Z", "2026-03-07T14:00Z"},
      {"0 12 1 7 *", "Europe/Berlin", "2040-01-01T00:00:00Z", "2040-07-01T10:00Z"},
      // Spring forward in Berlin (2026-03-29, 02:00 CET -> 03:00 CEST): 02:30 does not exist,
      // the run happens once, at 03:30 CEST, and the next day is back at 02:30.
      {"30 2 * * *", "Europe/Berlin", "2026-03-28T02:00:00Z", "2026-03-29T01:30Z"},
      {"30 2 * * *", "Europe/Berlin", "2026-03-29T01:30:00Z", "2026-03-30T00:30Z"},
      {"30 * * * *", "Europe/Berlin", "2026-03-29T00:30:00Z", "2026-03-29T01:30Z"},
      {"30 * * * *", "Europe/Berlin", "2026-03-29T01:30:00Z", "2026-03-29T02:30Z"},
      {"*/15 * * * *", "Europe/Berlin", "2026-03-29T00:45:00Z", "2026-03-29T01:00Z"},
      // Fall back (2026-10-25, 03:00 CEST -> 02:00 CET): a daily 02:30 runs at its first
      // occurrence only; an hourly or finer schedule runs through both hours.
      {"30 2 * * *", "Europe/Berlin", "2026-10-24T12:00:00Z", "2026-10-25T00:30Z"},
      {"30 2 * * *", "Europe/Berlin", "2026-10-25T00:30:00Z", "2026-10-26T01:30Z"},
      {"30 * * * *", "Europe/Berlin", "2026-10-25T00:00:00Z", "2026-10-25T00:30Z"},
      {"30 * * * *", "Europe/Berlin", "2026-10-25T00:30:00Z", "2026-10-25T01:30Z"},
      {"30 * * * *", "Europe/Berlin", "2026-10-25T01:30:00Z", "2026-10-25T02:30Z"},
      {"*/15 * * * *", "Europe/Berlin", "2026-10-25T00:45:00Z", "2026-10-25T01:00Z"},
      {"*/15 * * * *", "Europe/Berlin", "2026-10-25T01:00:00Z", "2026-10-25T01:15Z"},
  };
  for (const Case& c : cases) {
    EXPECT_EQ(Next(c.expr, c.zone, c.after), c.next) << c.expr << " in " << c.zone << " after " << c.after;
  }
}

// In UTC, walking Next() must give exactly the minutes a brute-force scan finds.
TEST(CronTest, NextAgreesWithAMinuteByMinuteScan) {
  TimeZone utc = *TimeZone::Load("UTC");
  for (const char* expr : {"*/7 * * * *", "0 */5 * * 1-5", "15 3 1,15 * *", "0 0 * 2 MON", "0 0 31 * 5"}) {
    CronExpr e = *CronExpr::Parse(expr);
    const std::int64_t start = *ParseRfc3339("2027-12-20T00:00:00Z") / 1000;
    const std::int64_t end = start + 120LL * 86'400;
    std::vector<std::int64_t> scanned, walked;
    for (std::int64_t t = start + 60; t < end; t += 60) {
      if (e.Matches(CivilFromUtcSeconds(t))) scanned.push_back(t);
    }
    for (std::optional<std::int64_t> t = e.Next(start, utc); t && *t < end; t = e.Next(*t, utc))
      walked.push_back(*t);
    EXPECT_EQ(walked, scanned) << expr;
    EXPECT_FALSE(scanned.empty()) << expr;
  }
}

// Across a whole year of a zone with daylight saving, every daily time fires exactly once a day.
TEST(CronTest, DailyTimesFireOncePerDayThroughClockChanges) {
  TimeZone berlin = *TimeZone::Load("Europe/Berlin");
  for (const char* expr : {"30 2 * * *", "0 3 * * *", "59 1 * * *", "0 0 * * *"}) {
    CronExpr e = *CronExpr::Parse(expr);
    std::int64_t t = *ParseRfc3339("2026-01-01T00:00:00Z") / 1000;
    std::map<std::int64_t, int> per_day;
    for (int i = 0; i < 365; ++i) {
      t = *e.Next(t, berlin);
      CivilMinute c = berlin.ToCivil(t);
      ++per_day[DaysFromCivil(c.year, c.month, c.day)];
    }
    for (const auto& [day, n] : per_day) EXPECT_EQ(n, 1) << expr << " day " << day;
    EXPECT_EQ(per_day.size(), 365u) << expr;
  }
}

TEST(CronTest, ErrorsNameTheFieldAndText) {
  const std::pair<const char*, const char*> bad[] = {
      {"60 * * * *", "minute field \"60\": 60 is out of range 0-59"},
      {"* 24 * * *", "hour field \"24\""},
      {"* * 0 * *", "day of month field \"0\""},
      {"* * * 13 *", "month field \"13\""},
      {"* * * * 8", "day of week field \"8\""},
      {"* * * * FOO", "\"FOO\" is not a day of week"},
      {"* * * *", "has 4 fields"},
      {"* * * * * *", "has 6 fields"},
      {"", "has 0 fields"},
      {"*/0 * * * *", "step \"0\""},
      {"5-1 * * * *", "runs backwards"},
      {"1-2-3 * * * *", "is not a range"},
      {"a * * * *", "\"a\" is not a minute"},
      {"1,,2 * * * *", "empty value"},
      {"0 0 30 2 *", "never fires"},
      {"0 0 31 4,6,9,11 *", "never fires"},
      {"@reboot", "unknown macro"},
  };
  for (const auto& [expr, message] : bad) {
    Result<CronExpr> e = CronExpr::Parse(expr);
    ASSERT_FALSE(e.ok()) << expr;
    EXPECT_NE(e.status().message().find(message), std::string::npos)
        << expr << " -> " << e.status().message();
  }
}

}  // namespace
}  // namespace drover
