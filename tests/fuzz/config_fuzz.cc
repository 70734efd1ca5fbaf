// Any text as a config file: an error or a config, never a crash or a hang.
#include <cstddef>
#include <cstdint>
#include <string>

#include "common/config.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string text(reinterpret_cast<const char*>(data), size);
  drover::Result<drover::Config> c = drover::ParseConfig(text, "/fuzz/drover.toml");
  if (!c.ok() && c.status().message().empty()) __builtin_trap();  // every error must say something
  return 0;
}
