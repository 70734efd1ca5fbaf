// What a job writes to its status fd: any bytes give an update or an error, never a crash.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "jobs/status_line.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  drover::Result<drover::ProgressUpdate> u =
      drover::ParseStatusLine(std::string_view(reinterpret_cast<const char*>(data), size));
  if (u.ok() && u->progress && !(*u->progress >= 0 && *u->progress <= 1)) __builtin_trap();
  return 0;
}
