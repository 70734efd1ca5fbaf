#include "common/time_zone.h"

#include <sys/stat.h>
#include <time.h>

#include <algorithm>
#include <cstdlib>
#include <mutex>
#include <optional>

namespace drover {
namespace {

constexpr std::int64_t kDay = 86'400;

std::mutex& TzMutex() {
  static std::mutex m;
  return m;
}

// Sets TZ for the duration of one lookup and puts the process's own setting back afterwards,
// so log timestamps and everything else keep the local zone.
class ScopedTz {
 public:
  explicit ScopedTz(const std::string& zone) : lock_(TzMutex()) {
    if (const char* old = getenv("TZ")) old_ = old;
    setenv("TZ", (":" + zone).c_str(), 1);
    tzset();
  }
  ~ScopedTz() {
    if (old_)
      setenv("TZ", old_->c_str(), 1);
    else
      unsetenv("TZ");
    tzset();
  }
  ScopedTz(const ScopedTz&) = delete;
  ScopedTz& operator=(const ScopedTz&) = delete;

 private:
  std::lock_guard<std::mutex> lock_;
  std::optional<std::string> old_;
};

std::int64_t FloorDiv(std::int64_t a, std::int64_t b) {
  return a / b - ((a % b != 0) && ((a < 0) != (b < 0)));
}

}  // namespace

// Civil-from-days and back after the well-known era/day-of-era decomposition of the
// Gregorian calendar (400-year eras of 146097 days, years starting in March).
std::int64_t DaysFromCivil(int year, int month, int day) {
  const std::int64_t y = static_cast<std::int64_t>(year) - (month <= 2 ? 1 : 0);
  const std::int64_t era = FloorDiv(y, 400);
  const std::int64_t yoe = y - era * 400;
  const std::int64_t mp = (month + 9) % 12;  // March = 0
  const std::int64_t doy = (153 * mp + 2) / 5 + day - 1;
  const std::int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146'097 + doe - 719'468;
}

void CivilFromDays(std::int64_t days, int* year, int* month, int* day) {
  const std::int64_t z = days + 719'468;
  const std::int64_t era = FloorDiv(z, 146'097);
  const std::int64_t doe = z - era * 146'097;
  const std::int64_t yoe = (doe - doe / 1460 + doe / 36'524 - doe / 146'096) / 365;
  const std::int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  const std::int64_t mp = (5 * doy + 2) / 153;
  *day = static_cast<int>(doy - (153 * mp + 2) / 5 + 1);
  *month = static_cast<int>(mp < 10 ? mp + 3 : mp - 9);
  *year = static_cast<int>(yoe + era * 400 + (*month <= 2 ? 1 : 0));
}

int Weekday(std::int64_t days) {
  return static_cast<int>(((days % 7) + 11) % 7);
}  // 1970-01-01 was a Thursday

int DaysInMonth(int year, int month) {
  static constexpr int kDays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  bool leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
  return month == 2 && leap ? 29 : kDays[month - 1];
}

std::int64_t CivilAsUtcSeconds(const CivilMinute& c) {
  return DaysFromCivil(c.year, c.month, c.day) * kDay + c.hour * 3600 + c.minute * 60;
}

CivilMinute CivilFromUtcSeconds(std::int64_t s) {
  CivilMinute c;
  std::int64_t days = FloorDiv(s, kDay);
  std::int64_t rest = s - days * kDay;
  CivilFromDays(days, &c.year, &c.month, &c.day);
  c.hour = static_cast<int>(rest / 3600);
  c.minute = static_cast<int>(rest % 3600 / 60);
  return c;
}

CivilMinute NextMinute(CivilMinute c) { return CivilFromUtcSeconds(CivilAsUtcSeconds(c) + 60); }

Result<TimeZone> TimeZone::Load(const std::string& name) {
  if (name == "UTC" || name == "Etc/UTC" || name == "Z") return TimeZone(name, true);
  struct stat st;
  if (name.empty() || name[0] == '/' || name.find("..") != std::string::npos ||
      stat(("/usr/share/zoneinfo/" + name).c_str(), &st) != 0 || !S_ISREG(st.st_mode)) {
    return Status::NotFound("unknown time zone \"" + name +
                            "\" (an IANA name such as Europe/Berlin; is tzdata installed?)");
  }
  return TimeZone(name, false);
}

int TimeZone::OffsetAt(std::int64_t utc_s) const {
  if (utc_) return 0;
  ScopedTz tz(name_);
  time_t t = static_cast<time_t>(utc_s);
  struct tm tm;
  if (localtime_r(&t, &tm) == nullptr) return 0;
  return static_cast<int>(tm.tm_gmtoff);
}

CivilMinute TimeZone::ToCivil(std::int64_t utc_s) const {
  return CivilFromUtcSeconds(utc_s + OffsetAt(utc_s));
}

std::vector<std::int64_t> TimeZone::Instants(const CivilMinute& c, bool* in_gap) const {
  if (in_gap) *in_gap = false;
  const std::int64_t local = CivilAsUtcSeconds(c);
  if (utc_) return {local};
  // Clock changes are far more than a day apart, so the offsets a day either side are the only
  // candidates: the wall time is valid under an offset o when the instant local - o has offset o.
  const int before = OffsetAt(local - kDay);
  const int after = OffsetAt(local + kDay);
  std::vector<std::int64_t> out;
  for (int o : {before, after}) {
    std::int64_t t = local - o;
    if (OffsetAt(t) == o && std::find(out.begin(), out.end(), t) == out.end()) out.push_back(t);
  }
  std::sort(out.begin(), out.end());
  if (out.empty()) {
    if (in_gap) *in_gap = true;
    out.push_back(local - before);  // the offset in force before the jump: 02:30 becomes 03:30
  }
  return out;
}

}  // namespace drover
