// The request format of the control socket: one JSON object per line,
// {"cmd": "status", "args": ["worker:default:0"]}. Pure; thread-safe.
#ifndef DROVER_SUPERVISOR_CONTROL_REQUEST_H_
#define DROVER_SUPERVISOR_CONTROL_REQUEST_H_

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

}  // namespace drover

#endif  // DROVER_SUPERVISOR_CONTROL_REQUEST_H_
