// Wall-clock and monotonic time helpers, and RFC 3339 formatting/parsing.
// Pure functions; thread-safe.
#ifndef DROVER_COMMON_TIME_UTIL_H_
#define DROVER_COMMON_TIME_UTIL_H_

#include <cstdint>
#include <string>
#include <string_view>

#include "common/status.h"

namespace drover {

// Milliseconds since the Unix epoch (wall clock). Job times are stored in this unit.
std::int64_t NowMs();
// Monotonic clock in microseconds (for timers and latency measurements).
std::int64_t MonotonicUs();

// "2026-11-23T09:15:37.123Z" (UTC, millisecond precision).
std::string FormatRfc3339(std::int64_t epoch_ms);
// Accepts "YYYY-MM-DDTHH:MM:SS[.fff](Z|±HH:MM)" (also with a space for T). Returns epoch ms, or
// InvalidArgument naming the text.
Result<std::int64_t> ParseRfc3339(std::string_view text);

}  // namespace drover

#endif  // DROVER_COMMON_TIME_UTIL_H_
