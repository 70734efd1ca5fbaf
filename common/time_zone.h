// Wall-clock ("civil") time and IANA time zones: converting instants to what a clock on the
// wall shows in a zone and back, including the gaps and repeats of daylight-saving changes.
// Offsets come from the C library's zone database (/usr/share/zoneinfo), so rules past the
// last listed transition (the TZif footer) are honoured. Thread-safe: lookups are serialised
// on one process-wide lock, because the C library only offers them through the TZ variable.
#ifndef DROVER_COMMON_TIME_ZONE_H_
#define DROVER_COMMON_TIME_ZONE_H_

#include <cstdint>
#include <string>
#include <vector>

#include "common/status.h"

namespace drover {

// A wall-clock time to the minute. Fields are normalised: month 1-12, day 1-31, hour 0-23.
struct CivilMinute {
  int year = 1970;
  int month = 1;
  int day = 1;
  int hour = 0;
  int minute = 0;

  auto operator<=>(const CivilMinute&) const = default;
};

// Days since 1970-01-01 of a proleptic Gregorian date, and back.
std::int64_t DaysFromCivil(int year, int month, int day);
void CivilFromDays(std::int64_t days, int* year, int* month, int* day);
// 0 = Sunday … 6 = Saturday.
int Weekday(std::int64_t days);
int DaysInMonth(int year, int month);

// `c` read as if it were UTC, in seconds since the epoch.
std::int64_t CivilAsUtcSeconds(const CivilMinute& c);
CivilMinute CivilFromUtcSeconds(std::int64_t s);
// The next minute on the wall clock (rolling over hours, days, months and years).
CivilMinute NextMinute(CivilMinute c);

class TimeZone {
 public:
  // "UTC" (also "Etc/UTC", "Z") or an IANA name such as "Europe/Berlin". Fails with NotFound
  // naming the zone when no such file exists under /usr/share/zoneinfo.
  static Result<TimeZone> Load(const std::string& name);

  const std::string& name() const { return name_; }

  // Seconds east of UTC in effect at `utc_s`.
  int OffsetAt(std::int64_t utc_s) const;
  CivilMinute ToCivil(std::int64_t utc_s) const;

  // The instants (epoch seconds, ascending) at which the wall clock shows `c`: one normally,
  // two when a clock change repeats it, and, when `c` falls into the gap of a clock change,
  // the one instant it would be had the clock not jumped (02:30 on a spring-forward night to
  // 03:30), flagged through `*in_gap`.
  std::vector<std::int64_t> Instants(const CivilMinute& c, bool* in_gap = nullptr) const;

 private:
  explicit TimeZone(std::string name, bool utc) : name_(std::move(name)), utc_(utc) {}

  std::string name_;
  bool utc_;
};

}  // namespace drover

#endif  // DROVER_COMMON_TIME_ZONE_H_
