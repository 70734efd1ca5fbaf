// Parsing and formatting of durations ("250ms", "1h30m", "3d") and sizes ("512MiB").
// Pure functions; thread-safe.
#ifndef DROVER_COMMON_DURATION_H_
#define DROVER_COMMON_DURATION_H_

#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>

#include "common/status.h"

namespace drover {

using Duration = std::chrono::milliseconds;

// Parses a sequence of <integer><unit> terms (units: ms, s, m, h, d, w), e.g. "1h30m".
// Returns the sum, or InvalidArgument naming the offending text for an empty, negative,
// unitless or overflowing value, or one above kMaxDuration.
Result<Duration> ParseDuration(std::string_view text);

// The longest duration a setting may have (36500 days): every conversion of a configured
// duration to microseconds and every deadline computed from it stays far from overflow.
inline constexpr Duration kMaxDuration{36500LL * 86'400'000};

// `d` in microseconds, the unit of the monotonic clock the event loops use (MonotonicUs).
constexpr std::int64_t Us(Duration d) { return d.count() * 1000; }

// Formats a duration compactly and losslessly ("1h30m", "250ms", "0s").
std::string FormatDuration(Duration d);

// Parses "<integer>[unit]" with units B, KiB, MiB, GiB, TiB (binary) or KB, MB, GB, TB
// (decimal); a bare number is bytes. Returns InvalidArgument for anything else.
Result<std::uint64_t> ParseSize(std::string_view text);

// Formats a byte count with the largest binary unit that divides it ("512MiB", "1000B").
std::string FormatSize(std::uint64_t bytes);

}  // namespace drover

#endif  // DROVER_COMMON_DURATION_H_
