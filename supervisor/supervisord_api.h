// The parts of supervisord's XML-RPC API that do not depend on droverd's state: its fault codes,
// process state codes, the description supervisorctl prints, how its log reads slice a file, and
// how answers that wait (a stop that waits for the process to exit) are represented. Pure;
// thread-safe.
#ifndef DROVER_SUPERVISOR_SUPERVISORD_API_H_
#define DROVER_SUPERVISOR_SUPERVISORD_API_H_

#include <sys/types.h>

#include <cstdint>
#include <functional>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>

#include "supervisor/child_lifecycle.h"

namespace drover {

// supervisord's fault codes (supervisor/xmlrpc.py), which its clients act on.
enum RpcFaultCode : int {
  kUnknownMethod = 1,
  kIncorrectParameters = 2,
  kBadArguments = 3,
  kShutdownState = 6,
  kBadName = 10,
  kBadSignal = 11,
  kNoFile = 20,
  kFailed = 30,
  kAbnormalTermination = 40,
  kSpawnError = 50,
  kAlreadyStarted = 60,
  kNotRunning = 70,
  kSuccess = 80,
  kAlreadyAdded = 90,
  kStillRunning = 91,
  kCantReread = 92,
};
const char* RpcFaultName(int code);

// One answer: a value, or a fault whose message reads "BAD_NAME: detail" as supervisord's do.
struct RpcOutcome {
  bool fault = false;
  int code = 0;
  std::string message;
  nlohmann::json value;
  static RpcOutcome Value(nlohmann::json v) { return {false, 0, "", std::move(v)}; }
  static RpcOutcome Fault(int code, const std::string& detail);
};

// Asked after every turn of the supervisor's loop until it has the answer.
using RpcPoll = std::function<std::optional<RpcOutcome>()>;

// The answer of a call: known now, or later by polling.
struct RpcReply {
  RpcReply(RpcOutcome o) : now(std::move(o)) {}  // NOLINT: implicit, so methods return outcomes
  explicit RpcReply(RpcPoll p) : later(std::move(p)) {}
  std::optional<RpcOutcome> now;
  RpcPoll later;
};

// The result struct of the group and "all" methods for one process.
nlohmann::json RpcProcessResult(const std::string& group, const std::string& name, const RpcOutcome& o);

// supervisord's state codes: STOPPED 0, STARTING 10, RUNNING 20, BACKOFF 30, STOPPING 40,
// EXITED 100, FATAL 200 (a spare is reported as STARTING).
int SupervisordStateCode(ProcState s);
// supervisord's RUNNING_STATES (STARTING, RUNNING, BACKOFF): what start refuses, stop accepts.
bool InRunningStates(ProcState s);
// supervisord's STOPPED_STATES (STOPPED, EXITED, FATAL).
bool InStoppedStates(ProcState s);

struct ProcessFacts {
  std::string name;
  ProcState state = ProcState::kStopped;
  pid_t pid = 0;
  std::int64_t start_s = 0, stop_s = 0, now_s = 0;  // wall clock; 0: never
  std::string spawnerr = {};
};
// What supervisorctl prints after the state: "pid 12, uptime 0:01:02", the error of a BACKOFF
// or FATAL process, the stop time ("Nov 26 01:02 AM", local time) or "Not started".
std::string ProcessDescription(const ProcessFacts& p);

// supervisord's read of a log: a negative `offset` with `length` 0 is the last -offset bytes;
// else `length` bytes from `offset` (0: to the end). nullopt for BAD_ARGUMENTS (negative
// length, or a negative offset with a length).
std::optional<std::string> ReadLogSlice(std::string_view content, std::int64_t offset, std::int64_t length);
// supervisord's tail of a log: [bytes, size of the log, overflow]: up to `length` bytes that end
// the log, none when nothing came after `offset`; overflow when more than `length` bytes did.
nlohmann::json TailLogSlice(std::string_view content, std::int64_t offset, std::int64_t length);

// True when `params` (an array) fits `signature`: one letter per parameter, s string, b bool,
// i integer, x string or integer, a array; those after '|' are optional.
bool ParamsFit(const nlohmann::json& params, std::string_view signature);

}  // namespace drover

#endif  // DROVER_SUPERVISOR_SUPERVISORD_API_H_
