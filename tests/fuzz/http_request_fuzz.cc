// HTTP requests on the control socket from any local client, in pieces of any size: read,
// refused or left waiting for more, never a crash, and never a body over the limit kept.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "supervisor/http_request.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  std::string_view in(reinterpret_cast<const char*>(data) + 1, size - 1);
  size_t piece = data[0] % 16 + 1;  // the first byte chooses how the stream is cut
  drover::HttpRequestReader r;
  drover::HttpRequestReader::State s = drover::HttpRequestReader::State::kReading;
  for (size_t i = 0; i < in.size() && s == drover::HttpRequestReader::State::kReading; i += piece) {
    s = r.Feed(in.substr(i, piece));
  }
  if (s == drover::HttpRequestReader::State::kBad && r.error().empty()) __builtin_trap();
  if (r.request().body.size() > drover::kMaxHttpBody) __builtin_trap();
  return 0;
}
