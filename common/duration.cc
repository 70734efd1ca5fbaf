#include "common/duration.h"

#include <cctype>
#include <limits>
#include <utility>

namespace drover {
namespace {

struct Unit {
  std::string_view name;
  std::int64_t factor;
};

constexpr Unit kDurationUnits[] = {
    {"ms", 1}, {"s", 1000}, {"m", 60'000}, {"h", 3'600'000}, {"d", 86'400'000}, {"w", 604'800'000},
};

constexpr Unit kSizeUnits[] = {
    {"B", 1},      {"KiB", 1LL << 10}, {"MiB", 1LL << 20},    {"GiB", 1LL << 30},        {"TiB", 1LL << 40},
    {"KB", 1'000}, {"MB", 1'000'000},  {"GB", 1'000'000'000}, {"TB", 1'000'000'000'000},
};

// Reads the leading digits of `text` at `pos`; false when there are none or they overflow.
bool ReadNumber(std::string_view text, size_t* pos, std::int64_t* out) {
  size_t start = *pos;
  std::int64_t v = 0;
  while (*pos < text.size() && std::isdigit(static_cast<unsigned char>(text[*pos]))) {
    int digit = text[*pos] - '0';
    if (v > (std::numeric_limits<std::int64_t>::max() - digit) / 10) return false;
    v = v * 10 + digit;
    ++*pos;
  }
  *out = v;
  return *pos > start;
}

std::string_view ReadUnit(std::string_view text, size_t* pos) {
  size_t start = *pos;
  while (*pos < text.size() && std::isalpha(static_cast<unsigned char>(text[*pos]))) ++*pos;
  return text.substr(start, *pos - start);
}

}  // namespace

Result<Duration> ParseDuration(std::string_view text) {
  auto bad = [&](std::string why) {
    return Status::InvalidArgument("invalid duration \"" + std::string(text) + "\": " + why);
  };
  if (text.empty()) return bad("empty (write e.g. \"30s\", \"250ms\", \"1h30m\")");
  if (text[0] == '-') return bad("must not be negative");
  std::int64_t total = 0;
  size_t pos = 0;
  while (pos < text.size()) {
    std::int64_t n;
    if (!ReadNumber(text, &pos, &n)) return bad("expected a number at position " + std::to_string(pos + 1));
    std::string_view unit = ReadUnit(text, &pos);
    if (unit.empty()) return bad("missing unit after " + std::to_string(n) + " (use ms, s, m, h, d or w)");
    std::int64_t factor = 0;
    for (const Unit& u : kDurationUnits) {
      if (u.name == unit) factor = u.factor;
    }
    if (factor == 0) return bad("unknown unit \"" + std::string(unit) + "\" (use ms, s, m, h, d or w)");
    if (n > (std::numeric_limits<std::int64_t>::max() - total) / factor) return bad("too large");
    total += n * factor;
  }
  if (Duration(total) > kMaxDuration) return bad("too large (at most 36500d)");
  return Duration(total);
}

std::string FormatDuration(Duration d) {
  std::int64_t ms = d.count();
  if (ms == 0) return "0s";
  std::string out;
  if (ms < 0) {
    out = "-";
    ms = -ms;
  }
  static constexpr std::pair<std::int64_t, const char*> kParts[] = {
      {86'400'000, "d"}, {3'600'000, "h"}, {60'000, "m"}, {1000, "s"}, {1, "ms"}};
  for (auto [factor, name] : kParts) {
    if (ms >= factor) {
      out += std::to_string(ms / factor) + name;
      ms %= factor;
    }
  }
  return out;
}

Result<std::uint64_t> ParseSize(std::string_view text) {
  auto bad = [&](std::string why) {
    return Status::InvalidArgument("invalid size \"" + std::string(text) + "\": " + why);
  };
  if (text.empty()) return bad("empty (write e.g. \"512MiB\")");
  if (text[0] == '-') return bad("must not be negative");
  size_t pos = 0;
  std::int64_t n;
  if (!ReadNumber(text, &pos, &n)) return bad("expected a number");
  std::string_view unit = ReadUnit(text, &pos);
  if (pos != text.size()) return bad("unexpected \"" + std::string(text.substr(pos)) + "\"");
  if (unit.empty()) return static_cast<std::uint64_t>(n);
  for (const Unit& u : kSizeUnits) {
    if (u.name == unit) {
      if (n > std::numeric_limits<std::int64_t>::max() / u.factor) return bad("too large");
      return static_cast<std::uint64_t>(n * u.factor);
    }
  }
  return bad("unknown unit \"" + std::string(unit) + "\" (use B, KiB, MiB, GiB, TiB, KB, MB, GB or TB)");
}

std::string FormatSize(std::uint64_t bytes) {
  static constexpr std::pair<std::uint64_t, const char*> kUnits[] = {
      {1ULL << 40, "TiB"}, {1ULL << 30, "GiB"}, {1ULL << 20, "MiB"}, {1ULL << 10, "KiB"}};
  for (auto [factor, name] : kUnits) {
    if (bytes >= factor && bytes % factor == 0) return std::to_string(bytes / factor) + name;
  }
  return std::to_string(bytes) + "B";
}

}  // namespace drover
