// Control socket requests from any local client: decoded or refused, never a crash.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "supervisor/control_request.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  drover::Result<drover::ControlCommand> c =
      drover::ParseControlRequest(std::string_view(reinterpret_cast<const char*>(data), size));
  if (!c.ok() && c.status().message().empty()) __builtin_trap();
  return 0;
}
