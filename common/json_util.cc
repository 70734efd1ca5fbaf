#include "common/json_util.h"

#include <nlohmann/json.hpp>

namespace drover {

Status ValidateJson(std::string_view text, const std::string& what) {
  if (nlohmann::json::accept(text)) return Status::Ok();
  try {
    nlohmann::json parsed = nlohmann::json::parse(text);
  } catch (const nlohmann::json::parse_error& e) {
    std::string msg = e.what();
    // "[json.exception.parse_error.101] parse error at line 1, column 2: ..." -> drop the tag.
    if (size_t p = msg.find("] "); p != std::string::npos) msg = msg.substr(p + 2);
    return Status::InvalidArgument(what + " is not valid JSON: " + msg);
  }
  return Status::InvalidArgument(what + " is not valid JSON");
}

}  // namespace drover
