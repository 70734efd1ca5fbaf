// JobStore: the one interface through which every process reads and changes the job table,
// whatever the backend. Every state transition happens here, each in one transaction.
// Implementations are not thread-safe, and a store must never cross fork(): each process opens
// its own (OpenJobStore, jobs/store/open_job_store.h).
#ifndef DROVER_JOBS_STORE_JOB_STORE_H_
#define DROVER_JOBS_STORE_JOB_STORE_H_

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "common/duration.h"
#include "common/status.h"
#include "jobs/job.h"
#include "jobs/store/change_notifier.h"

namespace drover {

// How a process opens the store. `database` picks the backend (see OpenJobStore).
struct StoreConfig {
  std::string database;
  Duration lease{60'000};  // a claim's lease; renewed by ExtendLeases
  // PostgreSQL: a node silent this long (no heartbeat, lease renewal or claim) loses its jobs.
  Duration node_timeout{15'000};
  bool synchronous_full = false;  // SQLite: PRAGMA synchronous=FULL instead of NORMAL
  int busy_timeout_ms = 5000;
  // Routine maintenance is left to one background process that calls Maintain(); the store
  // itself then does only what it must (SQLite: checkpoint once the WAL passes ~40 MB).
  bool background_maintenance = false;
  bool read_only = false;
  // PostgreSQL: the schema holding drover's tables, and whether idle workers wait for
  // LISTEN/NOTIFY wake-ups (false behind a transaction-mode pooler: they poll instead).
  std::string schema = "drover";
  bool listen = true;
  // Caps that claims enforce (RunningLimitsFor); only a process that claims needs them.
  std::vector<RunningLimit> limits = {};
};

// What one Maintain() call did.
struct MaintenanceReport {
  std::int64_t released_bytes = 0;  // storage handed back to the file system
};

// What a worker writes in the transaction of its next claim.
struct WorkerWrites {
  std::span<const StartedProcess> started = {};  // attempts it started: process ids (for `show`),
                                                 // and when held jobs started
  std::span<const Completion> done = {};         // outcomes of attempts
};

class JobStore {
 public:
  virtual ~JobStore() = default;

  // Inserts a queued job. A job whose unique_key is held by a queued or running job is not
  // inserted: the existing job's id is returned with duplicate=true. Fails with
  // InvalidArgument for an empty type, bad JSON payload or a payload over kMaxPayloadBytes.
  virtual Result<EnqueueResult> Enqueue(const EnqueueRequest& req) = 0;
  // The same for many jobs in one transaction: all are accepted or none.
  virtual Result<std::vector<EnqueueResult>> EnqueueBatch(std::span<const EnqueueRequest> reqs) = 0;

  // In one transaction: records the process ids in `writes.started` and the outcomes in
  // `writes.done` (each result in `results`, in the order of `writes.done`; stale ones, of
  // attempts `worker` no longer owns, are left untouched), then claims up to `n` + `held` ready
  // jobs from `queues` (not paused, run_at reached, not expired), best first: priority, then
  // run_at, then id. Claimed jobs are running, owned by `worker`, with a fresh lease and one more
  // attempt. The jobs after the first `n` are held: claimed ahead, not started, so without a
  // started_at until `writes.started` records their start. A held job's attempt is given back by
  // Recover and ReapExpiredLeases, crash or not, and leaves no history entry: it never ran.
  // Under StoreConfig::limits a job whose limit is full is skipped (it stays queued; the jobs
  // behind it are claimed), and the count of running jobs and the claim must be atomic across
  // every claimer: SQLite has one writer, so its claim transaction counts; a backend with
  // concurrent writers must serialize the claims of limited types, e.g. by locking one row per
  // limit in the claim transaction (the conformance suite's limit tests hold it to this).
  // On PostgreSQL a claim (n + held > 0) is also a heartbeat of the node `worker` names, late by
  // at most ClaimBeatSlack: once it commits, the node is not silent for node_timeout before
  // ClaimBeatSlack + node_timeout after the claim was sent.
  virtual Result<std::vector<ClaimedJob>> CompleteAndClaim(const std::string& worker,
                                                           const WorkerWrites& writes,
                                                           std::vector<CompletionResult>* results,
                                                           const std::vector<std::string>& queues, int n,
                                                           int held) = 0;
  Result<std::vector<ClaimedJob>> Claim(const std::string& worker, const std::vector<std::string>& queues,
                                        int n) {
    return CompleteAndClaim(worker, {}, nullptr, queues, n, 0);
  }
  Status Complete(const std::string& worker, std::span<const Completion> done,
                  std::vector<CompletionResult>* results) {
    return CompleteAndClaim(worker, {.done = done}, results, {}, 0, 0).status();
  }

  // Renews the lease of every job `worker` runs; on PostgreSQL also the heartbeat of the node its
  // id names. Returns how many leases were renewed.
  virtual Result<int> ExtendLeases(const std::string& worker) = 0;
  // Stores progress (0..1, optional message) and, when given, the checkpoint JSON.
  virtual Status UpdateProgress(std::int64_t id, const std::string& worker, int attempt,
                                std::optional<double> progress, std::optional<std::string> message,
                                std::optional<std::string> checkpoint) = 0;
  // The jobs `worker` owns (running, held included), as (id, attempt): after a claim whose
  // answer was lost with the connection, the worker gives back the ones it never heard of.
  virtual Result<std::vector<std::pair<std::int64_t, int>>> ClaimsOf(const std::string& worker) = 0;
  // Ids of `worker`'s running jobs whose cancellation was requested.
  virtual Result<std::vector<std::int64_t>> CancelRequested(const std::string& worker) = 0;

  // Puts back what a process held. With spend_attempt (the worker crashed) the attempt counts
  // and a job out of attempts fails; without it (shutdown, restart), or for a held job that
  // never started, the attempt is refunded.
  // An empty `worker` recovers every running job (start-up after a crash of the supervisor); one
  // ending in '/' every job of a worker whose id starts with it (a node's, "NODE/").
  // Returns the ids put back or failed.
  virtual Result<std::vector<std::int64_t>> Recover(const std::string& worker, bool spend_attempt,
                                                    const std::string& reason) = 0;
  // Recovers running jobs whose lease expired before `now_ms` (their owner vanished): the
  // attempt counts, except for held jobs that never started.
  virtual Result<std::vector<std::int64_t>> ReapExpiredLeases(std::int64_t now_ms) = 0;
  // Marks queued jobs past their expires_at as expired. Returns which.
  virtual Result<std::vector<JobRef>> ExpireJobs(std::int64_t now_ms) = 0;

  // Cancels a queued job at once; flags a running one for its worker to stop. Returns the new
  // state (running while the worker stops it); NotFound, or Conflict for a finished job.
  virtual Result<JobState> Cancel(std::int64_t id) = 0;
  // Queues a failed, cancelled or expired job again with fresh attempts. NotFound, or Conflict
  // when it is queued/running/succeeded or its unique key is taken.
  virtual Status Retry(std::int64_t id) = 0;
  // Deletes a job that is not running. NotFound, or Conflict for a running job.
  virtual Status Delete(std::int64_t id) = 0;
  // Deletes up to `batch` jobs in `state` (a final state) finished before `before_ms`.
  virtual Result<int> Prune(JobState state, std::int64_t before_ms, int batch) = 0;
  // How many jobs Prune(state, before_ms, ...) would delete in all.
  virtual Result<std::int64_t> CountPrunable(JobState state, std::int64_t before_ms) = 0;
  // How many jobs `action` would take now (see JobSelector, SelectedStates).
  virtual Result<std::int64_t> CountSelected(BulkAction action, const JobSelector& which) = 0;
  // One short transaction of a bulk action: takes up the first `batch` selected jobs with ids
  // above `after_id` and acts on each as Cancel, Retry or Delete would. A retry skips a job whose
  // unique key another queued or running job holds. InvalidArgument for a state the action
  // cannot take.
  virtual Result<BulkBatch> ApplyBulk(BulkAction action, const JobSelector& which, std::int64_t after_id,
                                      int batch) = 0;

  virtual Status SetQueuePaused(const std::string& queue, bool paused) = 0;
  virtual Result<std::vector<std::string>> PausedQueues() = 0;

  // The job types enqueuers may use, with their defaults: makes the job_types table match
  // `types` in one transaction (the Python client and the plain-SQL form read it).
  virtual Status SyncJobTypes(std::span<const JobTypeDefaults> types) = 0;
  virtual Result<std::vector<JobTypeDefaults>> JobTypes() = 0;

  // Periodic schedules. Makes the stored set match `wanted`: adds new ones, resets next_run of
  // those whose spec changed, deletes those no longer wanted (in one transaction).
  virtual Status SyncSchedules(std::span<const ScheduleSeed> wanted) = 0;
  virtual Result<std::vector<ScheduleState>> Schedules() = 0;
  // Handles the due time slot(s) of schedule `name` in one transaction: enqueues `runs` (none
  // when the slot is skipped), records `last_run_ms` when a run was enqueued, and moves
  // next_run from `expected_next_ms` to `next_run_ms`. Fails with Conflict, changing nothing,
  // when the stored next_run is not `expected_next_ms` (the slot was handled already).
  virtual Result<std::vector<EnqueueResult>> AdvanceSchedule(const std::string& name,
                                                             std::int64_t expected_next_ms,
                                                             std::int64_t next_run_ms,
                                                             std::span<const EnqueueRequest> runs,
                                                             std::int64_t last_run_ms) = 0;
  // Enqueues `run` now as the schedule's latest run, outside its timetable. NotFound when the
  // schedule is not stored (the scheduler has not started with it yet).
  virtual Result<EnqueueResult> TriggerSchedule(const std::string& name, const EnqueueRequest& run) = 0;
  // A paused schedule's slots pass without runs. NotFound for an unknown schedule.
  virtual Status SetSchedulePaused(const std::string& name, bool paused) = 0;

  virtual Result<Job> Get(std::int64_t id) = 0;
  virtual Result<std::vector<Job>> List(const JobFilter& filter) = 0;
  // Jobs with ids above `after_id`, oldest first, at most `limit` (new jobs, for the event
  // stream). after_id < 0: the newest job alone (where to start).
  virtual Result<std::vector<JobRef>> JobsAfter(std::int64_t after_id, int limit) = 0;
  // Running jobs whose current attempt started before `started_before_ms`, in no particular order.
  virtual Result<std::vector<Job>> RunningSince(std::int64_t started_before_ms) = 0;
  virtual Result<std::vector<QueueStats>> Stats() = 0;
  // The earliest run_at of any queued job, if any: when a delayed or retried job becomes due.
  virtual Result<std::optional<std::int64_t>> NextRunAt() = 0;

  // Several nodes (PostgreSQL). SQLite serves one host: it has no nodes table, every process
  // there leads, and Nodes() is Unsupported.
  //
  // Registers `me` as a live node. Fails with Conflict when a live node on another host holds
  // the name (heard from within `node_timeout_ms`, not stopped); a row of this host, a stopped
  // node's or a dead one's is taken over.
  virtual Status JoinNodes(const NodeInfo& me, std::int64_t node_timeout_ms) = 0;
  // The node's heartbeat; with `lead`, also takes or renews the leader's lease (for
  // `node_timeout_ms`) unless another node holds it. Returns whether `node` leads now.
  virtual Result<bool> Heartbeat(const std::string& node, bool lead, std::int64_t node_timeout_ms) = 0;
  // The leader's: re-queues the running jobs of nodes silent for `node_timeout_ms`, spending
  // the attempt as for a crashed worker. Returns their ids.
  virtual Result<std::vector<std::int64_t>> RescueDeadNodes(std::int64_t now_ms,
                                                            std::int64_t node_timeout_ms) = 0;
  // A clean shutdown: the node is stopped and gives up the leader's lease.
  virtual Status LeaveNodes(const std::string& node) = 0;
  virtual Result<std::vector<NodeStatus>> Nodes(std::int64_t node_timeout_ms) = 0;

  // A watch on commits made through other connections, for waking an idle worker. It reads
  // through this store and must not outlive it.
  virtual Result<std::unique_ptr<ChangeNotifier>> WatchChanges() = 0;
  // Housekeeping that keeps the backend small and fast, a bounded amount per call; one process
  // (the scheduler) calls it every tick. Contention with other processes is not an error.
  virtual Result<MaintenanceReport> Maintain() = 0;
};

}  // namespace drover

#endif  // DROVER_JOBS_STORE_JOB_STORE_H_
