// JSON helpers shared by the store, the CLI and the control protocol. Thread-safe.
#ifndef DROVER_COMMON_JSON_UTIL_H_
#define DROVER_COMMON_JSON_UTIL_H_

#include <string>
#include <string_view>

#include "common/status.h"

namespace drover {

// Ok when `text` is one JSON document; otherwise InvalidArgument "<what> is not valid JSON:
// <parser message with byte position>".
Status ValidateJson(std::string_view text, const std::string& what);

}  // namespace drover

#endif  // DROVER_COMMON_JSON_UTIL_H_
