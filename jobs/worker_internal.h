// Worker: the worker process's main object (worker.h runs it). Its loop, claims, timers and
// signals are in worker.cc; starting jobs, their output, exits and outcomes in worker_jobs.cc.
// Single-threaded (handler threads talk to it through HandlerPool); one per worker process.
#ifndef DROVER_JOBS_WORKER_INTERNAL_H_
#define DROVER_JOBS_WORKER_INTERNAL_H_

#include <sys/types.h>

#include <atomic>
#include <cstdint>
#include <deque>
#include <memory>
#include <optional>
#include <random>
#include <set>
#include <string>
#include <unordered_map>
#include <vector>

#include "common/timer_set.h"
#include "common/unique_fd.h"
#include "jobs/command_run.h"
#include "jobs/commit_watch.h"
#include "jobs/handler_pool.h"
#include "jobs/job_tally.h"
#include "jobs/progress_buffer.h"
#include "jobs/runner_process.h"
#include "jobs/runner_protocol.h"
#include "jobs/store/job_store.h"
#include "jobs/worker.h"

namespace drover::worker_internal {

constexpr std::int64_t kHygieneIntervalUs = 5'000'000;
constexpr std::int64_t kStoreRetryUs = 1'000'000;
constexpr std::int64_t kHardStopUs = 5'000'000;
// Report lines the supervisor has not read past this are dropped (it is stuck; it will notice).
constexpr size_t kMaxPendingReports = 1 << 20;
// A started job's pid (shown by `droverctl show`) goes out with the next claim's transaction,
// or this much later when no claim comes sooner: a transaction per started job costs command
// jobs much of their throughput.
constexpr std::int64_t kPidWriteDelayUs = 100'000;
constexpr double kRetryJitter = 0.25;
// How long the outcomes of a claimed batch wait for the rest of it (HoldForHandlers).
constexpr std::int64_t kHoldForHandlersUs = 1000;
// Claim-ahead (Worker::AheadWanted): about kAheadWindowUs of work beyond the free slots and at
// most kMaxAhead jobs, while jobs take less than kShortJobUs on average; jobs not started
// within kAheadMaxWaitUs go back.
constexpr int kMaxAhead = 32;
constexpr std::int64_t kAheadWindowUs = 10'000;
constexpr std::int64_t kShortJobUs = 20'000;
constexpr std::int64_t kAheadMaxWaitUs = 50'000;

// What the loop waits for. The job timers' subject is the job id; the others' is 0.
enum TimerKind {
  kHeartbeat,     // report to the supervisor
  kLease,         // renew the leases of running jobs
  kPoll,          // claim and check cancellations even without a wake-up
  kHygiene,       // recycling checks (max_age, max_memory), emptied job cgroups
  kDue,           // a delayed or retried job becomes due
  kRecheck,       // look again for another process's commit (CommitWatch)
  kStoreRetry,    // the store failed: write and claim again
  kWritePids,     // process ids of started jobs wait no longer for the next claim
  kHandlerKick,   // queued handler tasks want threads
  kReleaseAhead,  // jobs claimed ahead waited too long for a slot: give them back
  kDrain,         // the shutdown grace is over: stop the jobs
  kHardStop,      // handlers ignored their cancellation: leave without them
  kJobTimeout,    // a job's timeout
  kJobKill,       // a stopped command's SIGKILL
  kJobProgress,   // write a job's pending progress
  // The subject of these is the runner's index in runners_.
  kRunnerHello,    // a started runner did not say hello within start_timeout
  kRunnerRestart,  // a runner's cool-off is over: start it again
  kRunnerExit,     // a runner that closed its stdin or stdout did not exit
};

// An attempt that ended, until the store has its outcome: what the tally and the events need.
struct EndedJob {
  std::int64_t id = 0;
  std::string queue, type;
  Completion::Kind kind = Completion::Kind::kSucceeded;
  double seconds = 0;  // how long it ran
};

struct RunningJob {
  ClaimedJob job;
  const JobTypeConfig* type = nullptr;
  std::int64_t started_us = 0;
  bool held = false;                          // claimed ahead: its start goes into the store
  std::unique_ptr<CommandRun> cmd;            // command jobs
  std::unique_ptr<std::atomic<bool>> cancel;  // in-process jobs
  int runner = -1;                            // runner jobs: the index in Worker::runners_
  bool sent = false;                          // runner jobs: the runner has it (else it waits for one)
  bool stopping = false;                      // runner jobs: a cancel went to the runner
  bool timed_out = false, cancelled = false, interrupted = false;
  ProgressBuffer progress;
};

// A [runners.NAME] as one worker uses it: its running instance, if any, and its jobs.
struct RunnerSlot {
  const RunnerConfig* config = nullptr;
  std::unique_ptr<RunnerProcess> proc;
  bool ready = false;      // it said hello
  bool retiring = false;   // recycled: it gets no more jobs, finishes its own and exits
  int in_watched_fd = -1;  // its stdin, while in the epoll set (input waits for the pipe)
  // Why the worker killed it (logs); `others_innocent`: for another job's stop, so the jobs it
  // held besides that one go back uncharged.
  std::string kill_reason;
  bool others_innocent = false;
  std::set<std::string> types;        // what it serves (its hello)
  std::vector<std::int64_t> waiting;  // started jobs not sent yet (it is starting)
  std::set<std::int64_t> held;        // sent and not done
  std::string err_tail;               // its last stderr lines, for the errors of its jobs
  std::int64_t started_us = 0;
  std::int64_t jobs_done = 0;
  int failures = 0;                // failed starts and early deaths in a row: the cool-off
  std::int64_t restart_at_us = 0;  // cool-off until
};

using Stream = CommandRun::Stream;
constexpr Stream kStreams[] = {Stream::kStdout, Stream::kStderr, Stream::kStatus};
enum class FdKind { kSignal, kCommits, kHandlers, kJobOutput, kRunnerIn, kRunnerOut, kRunnerErr };
struct FdRef {
  FdKind kind;
  std::int64_t job = 0;             // kJobOutput: whose; kRunner*: the runner's index in runners_
  Stream stream = Stream::kStdout;  // kJobOutput: which
};

class Worker {
 public:
  explicit Worker(const WorkerOptions& o)
      : o_(o),
        store_(o.store),
        worker_id_(WorkerIdPrefix(o.config->supervisor) + o.name + "@" + std::to_string(getpid())),
        poll_us_(o.config->supervisor.poll_interval.count() * 1000),
        rng_(std::random_device{}() ^ getpid()),
        stop_after_spawn_(getenv("DROVER_TEST_STOP_AFTER_SPAWN")) {}

  int Run();

 private:
  Status Init();

  // On PostgreSQL a renewal also tells the other nodes that this one lives (JobStore::ExtendLeases):
  // often enough that a node running jobs never looks dead for node_timeout.
  std::int64_t LeaseRenewalUs() const {
    const SupervisorConfig& s = o_.config->supervisor;
    std::int64_t us = Us(s.lease) / 3;
    return IsPostgresDatabase(s.database) ? std::min(us, Us(s.node_timeout) / 3) : us;
  }

  Status Watch(int fd, FdRef ref);
  // For an fd about to be closed, which takes it out of the epoll set by itself (only this
  // process holds our pipe ends: they are close-on-exec).
  void Unwatch(int fd) { fds_.erase(fd); }

  // Reports go out together, once per turn of the loop (FlushReports). What the pipe does not
  // take waits for the next turn, whole lines and counts kept; events are dropped instead (and
  // counted) while anything else waits.
  void Report(const std::string& line);
  // A job's (or runner's) process group exists / was reaped: droverd kills it if this worker
  // dies, the job fence if droverd does (`cgroup`: the job's own, if any).
  void GroupStarted(pid_t pgid, const std::string& cgroup = "");
  void GroupEnded(pid_t pgid);
  // The leases of all running jobs were renewed by a round trip sent at `sent_us`: the
  // self-fence moves. UpdateFence arms it when jobs start running and clears it when none do.
  void Renewed(std::int64_t sent_us);
  void UpdateFence();
  void FlushReports();
  bool EventsWanted() const { return o_.events && o_.events->open(); }
  void ReportEvent(std::string_view event, const ClaimedJob& job,
                   nlohmann::json fields = nlohmann::json::object());
  // Counts (and tells the stream) what became of the attempts the store just wrote.
  void TallyEnded(const std::vector<CompletionResult>& results);

  // --- the loop ---

  void Wait(int timeout_ms);

  int FreeSlots() const { return o_.pool->concurrency - static_cast<int>(running_.size()); }
  // Jobs are claimed for the free slots and, once those claimed ahead are started, ahead.
  bool ClaimWanted() const {
    return claim_wanted_ && !draining_ && ahead_.empty() && FreeSlots() + AheadWanted() > 0;
  }
  int AheadWanted() const;
  // Starts jobs claimed ahead in the slots that freed up.
  void StartAhead();
  // Gives a job claimed ahead back to the queue (Completion::Kind::kReleased): uncharged, or
  // cancelled if a cancel was requested.
  void Release(const ClaimedJob& j);
  // Releases every job claimed ahead.
  void ReleaseAhead();
  void ReleaseUnknownClaims();
  // Completions to write or jobs to claim: the loop does not sleep (unless the store is failing).
  bool WorkPending() const;

  void FlushAndClaim();
  bool HoldForHandlers(std::int64_t now);

  // Wakes the loop when the next delayed job becomes due, if that is before the next poll.
  void ScheduleDue();

  void RunTimers(std::int64_t now);

  // Handlers still running ignore their cancellation flag: record them as interrupted and leave
  // without joining their threads.
  [[noreturn]] void LeaveWithoutHandlers();

  // max_jobs after every batch; max_age and max_memory when `periodic`.
  void CheckHygiene(bool periodic);

  // Claims nothing more and exits once the running jobs have ended; with `deadline`, stops those
  // still running after shutdown_timeout (a second call may add the deadline).
  void BeginDrain(bool deadline);

  // --- events ---

  void OnSignal();

  // After every write of ours: its wake-up must not hide another process's commit.
  void AfterOwnWrite() { OnCommit(commits_->AfterOwnWrite(MonotonicUs())); }

  // `changed`: another process committed, so there may be jobs to claim or cancel requests.
  void OnCommit(bool changed);

  void CheckCancels();

  // Asks a job to stop: SIGTERM to its group then SIGKILL after kill_after, or the
  // cancellation flag for a handler.
  void Stop(RunningJob& r, const char* why);

  // --- starting jobs ---

  // `held`: claimed ahead (see JobStore::CompleteAndClaim), so its start is recorded.
  void Start(ClaimedJob job, bool held = false);

  // The job is done with: its outcome goes out with the next claim.
  void Finish(std::int64_t id, Completion done);

  void Fail(const RunningJob& r, Completion::Kind kind, const std::string& error);

  std::int64_t RetryDelayMs(const RunningJob& r);

  Status StartCommand(RunningJob& r);

  // --- command job output and exit ---

  void OnJobOutput(FdRef ref);

  void HandleStatusLines(RunningJob& r, const std::vector<std::string>& lines);

  void ArmProgress(const RunningJob& r);

  void WriteProgress(RunningJob& r);

  void Reap();

  void FinishCommand(std::int64_t id, RunningJob& r, int wait_status);

  // --- in-process handlers ---

  void OnHandlers();

  // --- runners (worker_runners.cc) ---

  // Starts the runners that serve job types of this pool's queues.
  void InitRunners();
  // Hands a started job to its runner, or keeps it until the runner is ready.
  void StartRunnerJob(RunningJob& r);
  // Starts runner `i` unless it runs or cools off; fails the jobs waiting for it if it cannot.
  void EnsureRunner(int i);
  void SendRun(RunnerSlot& slot, RunningJob& r);
  void FlushRunners();
  void OnRunnerFd(FdRef ref);
  void OnRunnerLine(int i, const std::string& line);
  void OnRunnerHello(int i, const RunnerMessage& m);
  // The runner broke the protocol or stopped answering: it is killed (its exit does the rest).
  void KillRunner(int i, const std::string& why, bool others_innocent);
  // The runner exited (reaped): what it held ends, its waiting jobs wait for the next one.
  void RunnerExited(int i, int wait_status);
  // A runner job's stop: a cancel to the runner, and the runner's death after kill_after.
  void ReportRunner(const RunnerSlot& slot, const std::string& why);
  void ReleaseRunnerWaiters(RunnerSlot& slot);
  void StopRunnerJob(RunningJob& r, const char* why);
  // A runner job ends: the runner no longer holds it.
  void EndRunnerJob(RunningJob& r, Completion done);
  // max_memory and max_age of the runners (with `periodic`), max_jobs.
  void CheckRunnerHygiene(int i, bool periodic);
  void RetireRunner(int i, const std::string& why);

  const WorkerOptions& o_;
  JobStore* const store_;
  const std::string worker_id_;
  const std::int64_t poll_us_;  // [supervisor] poll_interval: looks for work without a wake-up
  std::mt19937_64 rng_;
  const char* const stop_after_spawn_;  // a test's fault point: see worker.h
  UniqueFd epoll_, sig_fd_;
  std::optional<CommitWatch> commits_;
  TimerSet timers_;
  std::unordered_map<int, FdRef> fds_;
  std::unordered_map<pid_t, std::int64_t> pids_;
  std::vector<RunnerSlot> runners_;             // one per [runners.NAME], in name order
  std::unordered_map<pid_t, int> runner_pids_;  // a running instance's pid → its index
  std::unordered_map<std::int64_t, RunningJob> running_;
  std::unique_ptr<HandlerPool> handlers_;  // declared after running_: joined first
  std::vector<Completion> completions_;
  std::deque<ClaimedJob> ahead_;           // claimed, best first, waiting for a free slot
  bool may_claim_ahead_ = false;           // no in-process handlers and no running limits
  bool ahead_paused_ = false;              // jobs claimed ahead went back: none until a slot frees up
  std::int64_t job_us_avg_ = kShortJobUs;  // how long jobs take, a moving average
  std::string reports_;                    // report lines not written yet
  std::string events_;                     // event lines not written yet
  std::int64_t events_lost_ = 0;           // dropped because the pipe was full
  JobTally tally_;                         // counted, not yet reported
  // Outcomes not yet written, in the order of their completions_ (some completions have none).
  std::vector<EndedJob> ended_;
  std::vector<StartedProcess> started_;  // pids not written yet (kWritePids)
  std::set<std::string> limits_warned_;  // job types whose cgroup limits could not be set
  bool claim_wanted_ = true;
  bool draining_ = false;
  bool drain_deadline_ = false;  // the running jobs get shutdown_timeout (a stop, not a replacement)
  bool store_failing_ = false;   // until kStoreRetry
  bool claims_unknown_ = false;  // a claim failed with the connection: ReleaseUnknownClaims
  bool write_pids_ = false;      // kWritePids came: write started_ even without a claim
  bool holding_ = false;         // HoldForHandlers said wait, this turn
  std::int64_t hold_since_us_ = 0;
  std::int64_t jobs_done_ = 0;
  size_t fence_capacity_ = 0;  // job process groups the fence holds at once
  // The self-fence (jobs/job_fence.h): while jobs run, they die once fence_budget_us_ has passed
  // since the start of the last round trip that renewed their leases (fence_base_us_), before
  // the leases or the node's heartbeat run out. 0: no fence.
  std::int64_t fence_budget_us_ = 0;
  std::int64_t fence_base_us_ = 0;
  std::int64_t claim_beat_slack_us_ = 0;  // ClaimBeatSlack: how late a claim's node heartbeat is
  std::int64_t last_claim_us_ = 0;        // when the last claim (of n + held > 0) the store answered was sent
  std::int64_t started_us_ = 0, hb_interval_us_ = 0;
};

}  // namespace drover::worker_internal

#endif  // DROVER_JOBS_WORKER_INTERNAL_H_
