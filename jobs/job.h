// Job value types shared by the store, the workers and the CLI. Plain data; thread-compatible.
#ifndef DROVER_JOBS_JOB_H_
#define DROVER_JOBS_JOB_H_

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/config.h"
#include "common/duration.h"
#include "common/status.h"

namespace drover {

enum class JobState { kQueued, kRunning, kSucceeded, kFailed, kCancelled, kExpired };

// Everything the program knows about each state, in JobState order.
struct JobStateInfo {
  JobState state;
  std::string_view name;                 // as stored in the `state` column and shown
  bool final;                            // no worker touches it again; it can be pruned
  Duration RetentionConfig::*retention;  // its [scheduler.retention] key; null unless final
};
inline constexpr JobStateInfo kJobStates[] = {
    {JobState::kQueued, "queued", false, nullptr},
    {JobState::kRunning, "running", false, nullptr},
    {JobState::kSucceeded, "succeeded", true, &RetentionConfig::succeeded},
    {JobState::kFailed, "failed", true, &RetentionConfig::failed},
    {JobState::kCancelled, "cancelled", true, &RetentionConfig::cancelled},
    {JobState::kExpired, "expired", true, &RetentionConfig::expired},
};
inline constexpr int kJobStateCount = static_cast<int>(std::size(kJobStates));

inline const JobStateInfo& InfoOf(JobState s) { return kJobStates[static_cast<int>(s)]; }
inline std::string_view JobStateName(JobState s) { return InfoOf(s).name; }
inline bool IsFinal(JobState s) { return InfoOf(s).final; }
std::optional<JobState> ParseJobState(std::string_view name);

// The largest payload the store accepts (JSON text, bytes).
inline constexpr size_t kMaxPayloadBytes = 1 << 20;

struct EnqueueRequest {
  std::string type;
  std::string payload = "{}";  // JSON text
  std::string queue = "default";
  int priority = 0;                       // higher runs first
  std::optional<std::int64_t> run_at_ms;  // absent: now
  std::optional<std::int64_t> expires_at_ms;
  int max_attempts = 5;
  std::optional<std::string> unique_key;
  std::optional<std::string> resource;  // what the job concerns (a room, an account): filters, limits
};

// The longest resource id the store accepts (bytes).
inline constexpr size_t kMaxResourceBytes = 1024;
// The ranges an enqueue accepts, the same as a [jobs.NAME] table's: a priority within
// +-kMaxPriority, max_attempts up to kMaxAttempts, and times (run_at, expires_at) from the epoch
// to the end of year 9999 UTC, in milliseconds.
inline constexpr int kMaxPriority = 1'000'000;
inline constexpr int kMaxAttempts = 1'000'000;
inline constexpr std::int64_t kMaxTimeMs = 253'402'300'799'999;

struct EnqueueResult {
  std::int64_t id = 0;
  JobState state = JobState::kQueued;
  bool duplicate = false;  // an existing queued/running job holds the unique key
  // A schedule's run whose slot key another job held (not a run of the schedule: the slot had
  // not been handled): that job's id. The run was enqueued all the same, without the key.
  std::optional<std::int64_t> slot_key_holder;
};

// What a worker receives from a claim: everything needed to run one attempt.
struct ClaimedJob {
  std::int64_t id = 0;
  std::string type;
  std::string queue;
  std::string payload;
  int priority = 0;
  int attempt = 0;  // 1 for the first run
  int max_attempts = 0;
  std::optional<std::string> checkpoint;  // JSON text of the last checkpoint, if any
  std::int64_t run_at_ms = 0;
  std::int64_t enqueued_at_ms = 0;
};

// Which job, for counting: its id, queue and type.
struct JobRef {
  std::int64_t id = 0;
  std::string queue;
  std::string type;
};

// The process a worker started for an attempt of a command job.
struct StartedProcess {
  std::int64_t id = 0;
  int attempt = 0;
  std::int64_t pid = 0;            // 0: none (an in-process job)
  std::int64_t started_at_ms = 0;  // a held job's start (see CompleteAndClaim); 0: set by its claim
};

// The outcome of one attempt, as reported by the worker that ran it.
struct Completion {
  enum class Kind {
    kSucceeded,
    kFailed,           // retried after `retry_delay` unless attempts are exhausted
    kFailedPermanent,  // no more attempts
    kInterrupted,      // shutdown: back to queued without spending the attempt
    kReleased,         // claimed but never started: back to its place in the queue, no history
  };
  std::int64_t id = 0;
  int attempt = 0;
  Kind kind = Kind::kSucceeded;
  std::string output;  // the result on success, the error otherwise
  std::int64_t retry_delay_ms = 0;
};

// What became of a completion: the job's new state, or `stale` when the worker no longer owned
// the attempt (it was recovered, reaped or cancelled meanwhile) and nothing was written.
struct CompletionResult {
  std::int64_t id = 0;
  bool stale = false;
  JobState state = JobState::kQueued;
};

// Fails with InvalidArgument naming what is wrong: an empty type, queue or unique key, a
// priority, max_attempts or time outside the ranges above, a payload that is not JSON or is over
// kMaxPayloadBytes.
Status ValidateEnqueueRequest(const EnqueueRequest& r);

// An attempt's error as kept in a job's history: at most 4 KiB, cut at a UTF-8 boundary.
std::string HistoryError(const std::string& error);

// A full row, for `show`, `jobs` and tests.
struct Job {
  std::int64_t id = 0;
  std::string type;
  std::string queue;
  std::string payload;
  JobState state = JobState::kQueued;
  int priority = 0;
  std::int64_t run_at_ms = 0;
  std::optional<std::int64_t> expires_at_ms;
  int attempts = 0;
  int max_attempts = 0;
  std::optional<std::string> unique_key;
  std::optional<std::string> resource;
  std::optional<std::string> worker;
  std::optional<std::int64_t> pid;
  std::optional<std::int64_t> lease_until_ms;
  std::int64_t enqueued_at_ms = 0;
  std::optional<std::int64_t> started_at_ms;
  std::optional<std::int64_t> finished_at_ms;
  std::optional<std::string> result;
  std::optional<std::string> last_error;
  std::string errors = "[]";  // JSON array of {attempt, at, worker, error}
  std::optional<double> progress;
  std::optional<std::string> progress_message;
  std::optional<std::string> checkpoint;
  bool cancel_requested = false;
};

// Which jobs List returns: those matching every filter given. A list matches any of its values;
// an empty one matches everything.
struct JobFilter {
  std::vector<JobState> states;
  std::vector<std::string> types;
  std::vector<std::string> queues;
  std::vector<std::string> resources;
  std::optional<std::int64_t> enqueued_after_ms;   // enqueued strictly after
  std::optional<std::int64_t> enqueued_before_ms;  // enqueued strictly before
  std::optional<std::int64_t> before_id;           // only older jobs (ids below): the next page
  int limit = 100;
};

// A cap on running jobs, enforced where jobs are claimed: the running jobs of `types` (per
// resource id when `per_resource`; jobs without one are then not capped) never exceed
// `max_running`. A job held back stays queued and does not hold back jobs behind it.
struct RunningLimit {
  std::string name;  // for people: "[jobs.T] max_running", "[limits.NAME]"
  std::vector<std::string> types;
  int max_running = 0;
  bool per_resource = false;
};

// A job type's defaults for enqueued jobs ([jobs.T] queue, priority, max_attempts, unique), as
// the job_types table holds them for enqueuers that cannot read the configuration.
struct JobTypeDefaults {
  std::string type;
  std::string queue = "default";
  int priority = 0;
  int max_attempts = 5;
  bool unique = false;
  bool operator==(const JobTypeDefaults&) const = default;
};

// The limits a configuration sets: [jobs.T] max_running and max_running_per_resource, and each
// [limits.NAME] that job types name.
std::vector<RunningLimit> RunningLimitsFor(const Config& config);

// Each [jobs.T]'s defaults for enqueued jobs, by type.
std::vector<JobTypeDefaults> JobTypeDefaultsOf(const Config& config);

// An operator's action on many jobs at once (droverctl cancel, retry and delete with filters).
enum class BulkAction { kCancel, kRetry, kDelete };
std::string_view BulkActionName(BulkAction a);  // "cancel", "retry", "delete"

// Which jobs a bulk action takes: those matching every field that is set.
struct JobSelector {
  // Each a state the action can take; empty: all of those (see SelectedStates).
  std::vector<JobState> states;
  std::optional<std::string> queue;
  std::optional<std::string> type;
  std::optional<std::int64_t> enqueued_before_ms;
};

// The states `which` selects for `action`: cancel takes queued and running jobs, retry failed,
// cancelled and expired ones, delete any job that is not running. InvalidArgument naming the
// state for one the action cannot take.
Result<std::vector<JobState>> SelectedStates(BulkAction action, const JobSelector& which);

// What one batch of a bulk action did.
struct BulkBatch {
  int selected = 0;          // jobs the batch took up; 0 when none are left
  int applied = 0;           // of those, the ones acted on
  int running = 0;           // cancel: of the applied, running jobs flagged for their worker to stop
  std::int64_t last_id = 0;  // the highest id taken up: the next batch starts after it
};

struct QueueStats {
  std::string queue;
  bool paused = false;
  std::int64_t counts[kJobStateCount] = {};     // indexed by JobState
  std::optional<std::int64_t> oldest_ready_ms;  // run_at of the oldest ready queued job
  std::int64_t finished_last_minute = 0;        // throughput: jobs that reached a final state
  std::int64_t finished_last_5_minutes = 0;
};

// A periodic schedule as the scheduler wants it stored: `spec` describes its timing (cron,
// zone, interval, anchor); when the stored spec differs, next_run is reset to `next_run_ms`.
struct ScheduleSeed {
  std::string name;
  std::string spec;
  std::int64_t next_run_ms = 0;
};

// A schedule's stored state, with the state of the job its last run enqueued.
struct ScheduleState {
  std::string name;
  std::string spec;
  std::int64_t next_run_ms = 0;
  std::optional<std::int64_t> last_run_ms;  // the time slot of the last run
  std::optional<std::int64_t> last_job_id;
  std::optional<JobState> last_job_state;  // absent when that job was pruned or deleted
  std::optional<std::string> last_job_type;
  bool paused = false;
};

// One droverd of several sharing a PostgreSQL database (DESIGN.md §10), as it registers.
struct NodeInfo {
  std::string name;
  std::string host;
  std::int64_t pid = 0;
  std::string version;
  std::int64_t started_at_ms = 0;
  int workers = 0;
};

// A node as `droverctl nodes` lists it.
struct NodeStatus {
  NodeInfo info;
  std::int64_t heartbeat_ms = 0;
  std::optional<std::int64_t> stopped_at_ms;  // a clean shutdown; absent while it runs (or died)
  bool alive = false;                         // not stopped, heard from within node_timeout
  bool leader = false;
  int running_jobs = 0;
};

}  // namespace drover

#endif  // DROVER_JOBS_JOB_H_
