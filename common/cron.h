// Five-field cron expressions ("minute hour day-of-month month day-of-week") and the next time
// one fires in a time zone. Immutable after Parse; thread-safe.
#ifndef DROVER_COMMON_CRON_H_
#define DROVER_COMMON_CRON_H_

#include <bitset>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "common/status.h"
#include "common/time_zone.h"

namespace drover {

class CronExpr {
 public:
  // Fields take `*`, numbers, ranges `a-b`, lists `a,b`, steps `*/n`, `a-b/n` and `a/n`, month
  // names JAN-DEC and day names SUN-SAT (7 is Sunday too); also @hourly, @daily (@midnight),
  // @weekly, @monthly, @yearly (@annually). When both day fields are restricted (neither starts
  // with `*`) a day matches either of them, as in every cron. Fails with InvalidArgument naming
  // the field and the offending text, also for an expression that can never fire (Feb 30).
  static Result<CronExpr> Parse(std::string_view text);

  bool Matches(const CivilMinute& c) const;
  // The first wall-clock minute at or after `from` that matches, within nine years (every
  // expression that can fire at all fires within eight); nullopt when there is none.
  std::optional<CivilMinute> NextMatch(CivilMinute from) const;

  // The first instant (epoch seconds) strictly after `after_s` at which the expression fires on
  // the wall clocks of `tz`. Across clock changes every matching wall-clock time fires once: a
  // time skipped by a spring-forward jump fires at the same distance past the jump (02:30 at
  // 03:30), a time repeated by a fall-back fires at its first occurrence only, unless the hour
  // field is `*`: then it fires in both, so hourly and finer schedules keep their real pace.
  std::optional<std::int64_t> Next(std::int64_t after_s, const TimeZone& tz) const;

 private:
  bool DayMatches(const CivilMinute& c) const;
  std::optional<std::int64_t> Walk(CivilMinute from, std::int64_t after_s, const TimeZone& tz,
                                   bool allow_repeat) const;

  std::bitset<60> minutes_;
  std::bitset<24> hours_;
  std::bitset<32> days_;     // 1-31
  std::bitset<13> months_;   // 1-12
  std::bitset<7> weekdays_;  // 0 = Sunday
  bool days_star_ = false;
  bool weekdays_star_ = false;
};

}  // namespace drover

#endif  // DROVER_COMMON_CRON_H_
