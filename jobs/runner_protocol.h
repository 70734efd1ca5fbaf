// The runner protocol (docs/runner-protocol.md): the newline-delimited JSON a worker and a
// long-lived runner exchange over the runner's stdin and stdout. Encoding of drover's messages
// and parsing of the runner's. Pure; thread-safe.
#ifndef DROVER_JOBS_RUNNER_PROTOCOL_H_
#define DROVER_JOBS_RUNNER_PROTOCOL_H_

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "common/duration.h"
#include "common/status.h"
#include "jobs/job.h"
#include "jobs/status_line.h"

namespace drover {

inline constexpr int kRunnerProtocolVersion = 1;
// A runner's line longer than this is a protocol error (it would hold the worker's memory).
inline constexpr size_t kMaxRunnerLineBytes = 16 << 20;

// drover → runner: {"op":"run","id":N, ...the stdin envelope's other fields, "timeout_ms"} and a
// newline. The line always begins with {"op":"run","id":N, so that a runner can fail that job
// when the rest does not decode.
std::string RunMessage(const ClaimedJob& job, Duration timeout);
// drover → runner: {"op":"cancel","id":ID,"reason":REASON} and a newline; `reason` is "cancel",
// "timeout" or "shutdown".
std::string CancelMessage(std::int64_t id, std::string_view reason);

// runner → drover, one line.
struct RunnerMessage {
  enum class Op { kHello, kProgress, kDone, kFail };
  Op op = Op::kHello;
  // hello
  int protocol = 0;
  std::vector<std::string> types;  // the job types it serves
  std::string isolation;           // what the runner says it does ("process", "fork"), for logs
  // progress, done, fail
  std::int64_t id = 0;
  ProgressUpdate progress;  // progress (and a checkpoint op)
  std::string result;       // done: JSON text ("null" when absent)
  std::string error;        // fail
  bool retry = true;        // fail: false fails the job for good
};

// Parses one line (without its newline). InvalidArgument says what is wrong with it: not JSON,
// not an object, an unknown op, a missing or wrongly typed field.
Result<RunnerMessage> ParseRunnerMessage(std::string_view line);

}  // namespace drover

#endif  // DROVER_JOBS_RUNNER_PROTOCOL_H_
