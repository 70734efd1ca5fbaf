// Durations and sizes: parsing never crashes, and what parses survives a format/parse round trip.
#include <cstddef>
#include <cstdint>
#include <string>

#include "common/duration.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string text(reinterpret_cast<const char*>(data), size);
  drover::Result<drover::Duration> d = drover::ParseDuration(text);
  if (d.ok()) {
    drover::Result<drover::Duration> again = drover::ParseDuration(drover::FormatDuration(*d));
    if (!again.ok() || *again != *d) __builtin_trap();
  }
  drover::Result<std::uint64_t> s = drover::ParseSize(text);
  if (s.ok()) {
    drover::Result<std::uint64_t> again = drover::ParseSize(drover::FormatSize(*s));
    if (!again.ok() || *again != *s) __builtin_trap();
  }
  return 0;
}
