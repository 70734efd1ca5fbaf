#include "supervisor/control_request.h"

#include <nlohmann/json.hpp>

namespace drover {

Result<ControlCommand> ParseControlRequest(std::string_view line) {
  using json = nlohmann::json;
  json req = json::parse(line, nullptr, false);
  if (req.is_discarded() || !req.is_object() || !req.contains("cmd") || !req["cmd"].is_string()) {
    return Status::InvalidArgument(R"(malformed request: expected {"cmd": "...", "args": [...]})");
  }
  ControlCommand c;
  c.cmd = req["cmd"].get<std::string>();
  if (req.contains("args")) {
    if (!req["args"].is_array()) return Status::InvalidArgument("malformed request: \"args\" must be an array of strings");
    for (const json& a : req["args"]) {
      if (!a.is_string()) return Status::InvalidArgument("malformed request: \"args\" must be an array of strings");
      c.args.push_back(a.get<std::string>());
    }
  }
  return c;
}

}  // namespace drover
