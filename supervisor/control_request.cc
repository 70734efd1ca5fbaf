#include "supervisor/control_request.h"

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
    if (!req["args"].is_array())
      return Status::InvalidArgument("malformed request: \"args\" must be an array of strings");
    for (const json& a : req["args"]) {
      if (!a.is_string())
        return Status::InvalidArgument("malformed request: \"args\" must be an array of strings");
      c.args.push_back(a.get<std::string>());
    }
  }
  return c;
}

std::string ControlRequestLine(const std::string& cmd, const std::vector<std::string>& args) {
  return nlohmann::json{{"cmd", cmd}, {"args", args}}.dump();
}

namespace {
constexpr std::string_view kCodes[] = {"bad_request",       "unknown_command", "not_found",
                                       "permission_denied", "shutting_down",   "failed"};
}

std::string_view ControlErrorCode(ControlError e) { return kCodes[static_cast<int>(e)]; }

std::string OkAnswer(const nlohmann::json& result) {
  // Replacement, not an exception, for text that is not UTF-8 (a log line, a job's output).
  return nlohmann::json{{"ok", true}, {"result", result}}.dump(-1, ' ', false,
                                                               nlohmann::json::error_handler_t::replace);
}

std::string ErrorAnswer(ControlError e, const std::string& message) {
  return nlohmann::json{{"ok", false}, {"code", ControlErrorCode(e)}, {"error", message}}.dump(
      -1, ' ', false, nlohmann::json::error_handler_t::replace);
}

std::string ErrorAnswer(const Status& s) {
  ControlError e = s.IsNotFound()          ? ControlError::kNotFound
                   : s.IsInvalidArgument() ? ControlError::kBadRequest
                                           : ControlError::kFailed;
  return ErrorAnswer(e, s.message());
}

Result<ControlAnswer> ParseControlAnswer(std::string_view line) {
  using json = nlohmann::json;
  json a = json::parse(line, nullptr, false);
  if (a.is_discarded() || !a.is_object() || !a.contains("ok") || !a["ok"].is_boolean()) {
    return Status::IoError("unreadable answer from droverd");
  }
  ControlAnswer out;
  out.ok = a["ok"].get<bool>();
  if (out.ok) {
    out.result = a.contains("result") ? a["result"] : json();
    return out;
  }
  out.message =
      a.contains("error") && a["error"].is_string() ? a["error"].get<std::string>() : "request failed";
  std::string code = a.contains("code") && a["code"].is_string() ? a["code"].get<std::string>() : "";
  for (size_t i = 0; i < std::size(kCodes); ++i) {
    if (kCodes[i] == code) out.error = static_cast<ControlError>(i);
  }
  return out;
}

}  // namespace drover
