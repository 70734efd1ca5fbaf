#include "common/cron.h"

#include <algorithm>
#include <array>
#include <cctype>
#include <charconv>
#include <vector>

namespace drover {
namespace {

struct Field {
  const char* name;
  int min;
  int max;
  const char* const* names;  // index 0 is the value `min`
};

constexpr const char* kMonthNames[] = {"jan", "feb", "mar", "apr", "may", "jun",  "jul",
                                       "aug", "sep", "oct", "nov", "dec", nullptr};
constexpr const char* kDayNames[] = {"sun", "mon", "tue", "wed", "thu", "fri", "sat", nullptr};
constexpr Field kFields[] = {{"minute", 0, 59, nullptr},
                             {"hour", 0, 23, nullptr},
                             {"day of month", 1, 31, nullptr},
                             {"month", 1, 12, kMonthNames},
                             {"day of week", 0, 7, kDayNames}};

std::vector<std::string_view> Split(std::string_view s, char sep) {
  std::vector<std::string_view> out;
  size_t start = 0;
  while (true) {
    size_t end = s.find(sep, start);
    out.push_back(s.substr(start, end == std::string_view::npos ? std::string_view::npos : end - start));
    if (end == std::string_view::npos) return out;
    start = end + 1;
  }
}

Status FieldError(const Field& f, std::string_view text, const std::string& why) {
  return Status::InvalidArgument(std::string(f.name) + " field \"" + std::string(text) + "\": " + why);
}

Result<int> Value(const Field& f, std::string_view item, std::string_view text) {
  if (item.empty()) return FieldError(f, text, "empty value");
  if (std::isalpha(static_cast<unsigned char>(item[0]))) {
    if (f.names != nullptr && item.size() == 3) {
      std::string lower;
      for (char ch : item) lower += static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
      for (int i = 0; f.names[i] != nullptr; ++i) {
        if (lower == f.names[i]) return f.min + i;
      }
    }
    return FieldError(f, text, "\"" + std::string(item) + "\" is not a " + f.name);
  }
  int v = 0;
  auto [end, ec] = std::from_chars(item.data(), item.data() + item.size(), v);
  if (ec != std::errc() || end != item.data() + item.size()) {
    return FieldError(f, text, "\"" + std::string(item) + "\" is not a number");
  }
  if (v < f.min || v > f.max) {
    return FieldError(
        f, text,
        std::to_string(v) + " is out of range " + std::to_string(f.min) + "-" + std::to_string(f.max));
  }
  return v;
}

// The values one field selects, in [f.min, f.max].
Result<std::vector<int>> ParseField(const Field& f, std::string_view text) {
  std::vector<int> values;
  for (std::string_view part : Split(text, ',')) {
    std::vector<std::string_view> step_parts = Split(part, '/');
    if (step_parts.size() > 2)
      return FieldError(f, text, "more than one `/` in \"" + std::string(part) + "\"");
    int step = 1;
    if (step_parts.size() == 2) {
      auto [end, ec] =
          std::from_chars(step_parts[1].data(), step_parts[1].data() + step_parts[1].size(), step);
      if (ec != std::errc() || end != step_parts[1].data() + step_parts[1].size() || step < 1) {
        return FieldError(f, text, "step \"" + std::string(step_parts[1]) + "\" is not a positive number");
      }
    }
    std::string_view range = step_parts[0];
    int lo = f.min, hi = f.max;
    if (range != "*") {
      std::vector<std::string_view> ends = Split(range, '-');
      if (ends.size() > 2) return FieldError(f, text, "\"" + std::string(range) + "\" is not a range");
      Result<int> a = Value(f, ends[0], text);
      if (!a.ok()) return a.status();
      lo = *a;
      if (ends.size() == 2) {
        Result<int> b = Value(f, ends[1], text);
        if (!b.ok()) return b.status();
        hi = *b;
        if (hi < lo) return FieldError(f, text, "range " + std::string(range) + " runs backwards");
      } else if (step_parts.size() == 1) {
        hi = lo;  // a single value; "a/n" means a, a+n, … up to the maximum
      }
    }
    for (int v = lo; v <= hi; v += step) values.push_back(v);
  }
  return values;
}

std::string_view Trim(std::string_view s) {
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.front()))) s.remove_prefix(1);
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.remove_suffix(1);
  return s;
}

std::string_view Macro(std::string_view s) {
  static constexpr std::array<std::pair<std::string_view, std::string_view>, 7> kMacros{{
      {"@yearly", "0 0 1 1 *"},
      {"@annually", "0 0 1 1 *"},
      {"@monthly", "0 0 1 * *"},
      {"@weekly", "0 0 * * 0"},
      {"@daily", "0 0 * * *"},
      {"@midnight", "0 0 * * *"},
      {"@hourly", "0 * * * *"},
  }};
  for (const auto& [name, expansion] : kMacros) {
    if (s == name) return expansion;
  }
  return {};
}

}  // namespace

Result<CronExpr> CronExpr::Parse(std::string_view text) {
  std::string_view s = Trim(text);
  if (!s.empty() && s[0] == '@') {
    std::string_view expansion = Macro(s);
    if (expansion.empty()) {
      return Status::InvalidArgument("unknown macro \"" + std::string(s) +
                                     "\" (use @hourly, @daily, @weekly, @monthly or @yearly)");
    }
    s = expansion;
  }
  std::vector<std::string_view> fields;
  size_t i = 0;
  while (i < s.size()) {
    while (i < s.size() && std::isspace(static_cast<unsigned char>(s[i]))) ++i;
    size_t start = i;
    while (i < s.size() && !std::isspace(static_cast<unsigned char>(s[i]))) ++i;
    if (i > start) fields.push_back(s.substr(start, i - start));
  }
  if (fields.size() != 5) {
    return Status::InvalidArgument("\"" + std::string(text) + "\" has " + std::to_string(fields.size()) +
                                   " fields; cron needs 5: minute hour day-of-month month day-of-week");
  }
  CronExpr e;
  for (int f = 0; f < 5; ++f) {
    Result<std::vector<int>> values = ParseField(kFields[f], fields[f]);
    if (!values.ok()) return values.status();
    for (int v : *values) {
      switch (f) {
        case 0:
          e.minutes_.set(v);
          break;
        case 1:
          e.hours_.set(v);
          break;
        case 2:
          e.days_.set(v);
          break;
        case 3:
          e.months_.set(v);
          break;
        case 4:
          e.weekdays_.set(v % 7);
          break;
      }
    }
  }
  e.days_star_ = fields[2][0] == '*';
  e.weekdays_star_ = fields[4][0] == '*';
  if (!e.NextMatch(CivilMinute{2000, 1, 1, 0, 0})) {
    return Status::InvalidArgument("\"" + std::string(text) + "\" never fires (no such day in any year)");
  }
  return e;
}

bool CronExpr::DayMatches(const CivilMinute& c) const {
  bool day = days_[c.day];
  bool weekday = weekdays_[Weekday(DaysFromCivil(c.year, c.month, c.day))];
  if (days_star_ || weekdays_star_) return day && weekday;
  return day || weekday;
}

bool CronExpr::Matches(const CivilMinute& c) const {
  return minutes_[c.minute] && hours_[c.hour] && months_[c.month] && DayMatches(c);
}

std::optional<CivilMinute> CronExpr::NextMatch(CivilMinute c) const {
  const std::int64_t limit = DaysFromCivil(c.year, c.month, c.day) + 9 * 366;
  while (DaysFromCivil(c.year, c.month, c.day) <= limit) {
    if (!months_[c.month]) {
      c = c.month == 12 ? CivilMinute{c.year + 1, 1, 1, 0, 0} : CivilMinute{c.year, c.month + 1, 1, 0, 0};
    } else if (!DayMatches(c)) {
      c = CivilFromUtcSeconds(DaysFromCivil(c.year, c.month, c.day + 1) * 86'400);
    } else if (!hours_[c.hour]) {
      c = NextMinute(CivilMinute{c.year, c.month, c.day, c.hour, 59});
    } else if (!minutes_[c.minute]) {
      c = NextMinute(c);
    } else {
      return c;
    }
  }
  return std::nullopt;
}

std::optional<std::int64_t> CronExpr::Walk(CivilMinute from, std::int64_t after_s, const TimeZone& tz,
                                           bool allow_repeat) const {
  for (int guard = 0; guard < 10'000; ++guard) {
    std::optional<CivilMinute> m = NextMatch(from);
    if (!m) return std::nullopt;
    std::vector<std::int64_t> instants = tz.Instants(*m);
    for (size_t k = 0; k < instants.size(); ++k) {
      if (instants[k] > after_s && (k == 0 || allow_repeat)) return instants[k];
    }
    from = NextMinute(*m);
  }
  return std::nullopt;
}

std::optional<std::int64_t> CronExpr::Next(std::int64_t after_s, const TimeZone& tz) const {
  const bool every_hour = hours_.all();
  std::optional<std::int64_t> t = Walk(NextMinute(tz.ToCivil(after_s)), after_s, tz, every_hour);
  if (!t || !every_hour) return t;
  // Walking wall-clock time from `after` passes a repeated hour only once. If the clock went
  // back in between, walk the repeat again from the moment of the change.
  const int now_offset = tz.OffsetAt(after_s);
  const int then_offset = tz.OffsetAt(*t);
  if (then_offset >= now_offset) return t;
  std::int64_t lo = after_s, hi = *t;  // offset(lo) != then_offset, offset(hi) == then_offset
  while (hi - lo > 1) {
    std::int64_t mid = lo + (hi - lo) / 2;
    (tz.OffsetAt(mid) == then_offset ? hi : lo) = mid;
  }
  std::optional<std::int64_t> repeat = Walk(tz.ToCivil(hi), after_s, tz, true);
  return repeat && *repeat < *t ? repeat : t;
}

}  // namespace drover
