// The control socket's protocol: one JSON object per line each way. A request is
// {"cmd": "status", "args": ["worker:default:0"]}; an answer {"ok": true, "result": ...} or
// {"ok": false, "code": "not_found", "error": "no such process: x"}: clients act on the code, the
// message is for people. Pure; thread-safe.
#ifndef DROVER_SUPERVISOR_CONTROL_REQUEST_H_
#define DROVER_SUPERVISOR_CONTROL_REQUEST_H_

#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"

namespace drover {

struct ControlCommand {
  std::string cmd;
  std::vector<std::string> args;
};

// Decodes one request line. Fails with InvalidArgument saying what shape was expected.
Result<ControlCommand> ParseControlRequest(std::string_view line);
std::string ControlRequestLine(const std::string& cmd, const std::vector<std::string>& args);

enum class ControlError {
  kBadRequest,        // "bad_request": malformed, or wrong arguments
  kUnknownCommand,    // "unknown_command"
  kNotFound,          // "not_found": no such process or job type
  kPermissionDenied,  // "permission_denied"
  kShuttingDown,      // "shutting_down"
  kFailed,            // "failed": anything else
};

std::string_view ControlErrorCode(ControlError e);

std::string OkAnswer(const nlohmann::json& result);
std::string ErrorAnswer(ControlError e, const std::string& message);
// The code of a failed Status: NotFound is not_found, InvalidArgument bad_request, the rest failed.
std::string ErrorAnswer(const Status& s);

struct ControlAnswer {
  bool ok = false;
  ControlError error = ControlError::kFailed;  // when !ok
  std::string message;                         // when !ok
  nlohmann::json result;                       // when ok
};

// Decodes one answer line; an unknown code reads as kFailed. Fails with IoError when the line is
// not an answer.
Result<ControlAnswer> ParseControlAnswer(std::string_view line);

}  // namespace drover

#endif  // DROVER_SUPERVISOR_CONTROL_REQUEST_H_
