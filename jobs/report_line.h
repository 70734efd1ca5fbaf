// The report pipe: how a child (scheduler, worker, spare) tells droverd what it is doing, one
// line per message. Every word of that protocol is written and read here. Pure; thread-safe.
#ifndef DROVER_JOBS_REPORT_LINE_H_
#define DROVER_JOBS_REPORT_LINE_H_

#include <sys/types.h>

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace drover {

struct Report {
  enum class Kind {
    kReady,          // started; heartbeats follow
    kHeartbeat,      // alive; `ids`: some of the jobs it runs (at most kMaxHeartbeatIds)
    kGroupStarted,   // a job's process group `pgid` exists (droverd kills it if the worker dies)
    kGroupEnded,     // that group was reaped
    kSpareIdle,      // a spare waits for commands
    kRecovered,      // a spare re-queued `count` jobs of `worker_id`
    kRecoverFailed,  // ... or could not: `text` says why
    kRecycle,        // wants to be replaced: `text` says why (max_jobs, max_age, max_memory)
    kTally,          // job counts (JobTally): `text` is the JSON ParseTally reads
    kEvent,          // one event for the stream: `text` is its JSON (EventJson)
    kMissed,         // schedule `text` skipped `count` slots
    kRunner,         // runner `name` is `state` (starting, ready, backoff) after `count` failed starts in a
                     // row, the next start in `ms` (backoff); `text`: why the last one failed
    kUnknown,
  };
  Kind kind = Kind::kUnknown;
  std::vector<std::int64_t> ids;
  pid_t pgid = 0;
  std::string worker_id;
  std::int64_t count = 0;
  std::string text;
  std::string name, state;
  std::int64_t ms = 0;
};

inline constexpr size_t kMaxHeartbeatIds = 32;

// Each returns one line, newline included.
std::string ReadyLine();
std::string HeartbeatLine(std::span<const std::int64_t> ids);  // the first kMaxHeartbeatIds
std::string GroupStartedLine(pid_t pgid);
std::string GroupEndedLine(pid_t pgid);
std::string SpareIdleLine();
std::string RecoveredLine(const std::string& worker_id, std::int64_t count);
std::string RecoverFailedLine(const std::string& worker_id, const std::string& why);
std::string RecycleLine(const std::string& why);
std::string EventLine(const std::string& event_json);
std::string MissedLine(const std::string& schedule, std::int64_t count);
std::string RunnerLine(const std::string& name, const std::string& state, std::int64_t failures,
                       std::int64_t next_start_ms, const std::string& why);
// JobTally::Lines() writes the tally lines.

// One line, without its newline. A line it cannot read is kUnknown.
Report ParseReport(std::string_view line);

}  // namespace drover

#endif  // DROVER_JOBS_REPORT_LINE_H_
