// SqliteJobStore: the JobStore on one SQLite file in WAL mode, shared by every process of one
// host. The only code with job SQL in it (sqlite_store*.cc; the schema in sqlite_schema.cc).
// Every method runs on this process's own connection; not thread-safe.
#ifndef DROVER_JOBS_STORE_SQLITE_STORE_H_
#define DROVER_JOBS_STORE_SQLITE_STORE_H_

#include <memory>
#include <string>
#include <vector>

#include "common/sqlite.h"
#include "jobs/store/job_store.h"

namespace drover {

class SqliteJobStore final : public JobStore {
 public:
  // Opens (creating if needed) the database file `config.database` and applies pending
  // migrations. Fails with the path and the reason: missing directory, not a database, no
  // permission, a trigger drover did not create, or a schema newer than this program.
  static Result<std::unique_ptr<SqliteJobStore>> Open(const StoreConfig& config);

  Result<EnqueueResult> Enqueue(const EnqueueRequest& req) override;
  Result<std::vector<EnqueueResult>> EnqueueBatch(std::span<const EnqueueRequest> reqs) override;
  Result<std::vector<ClaimedJob>> CompleteAndClaim(const std::string& worker, const WorkerWrites& writes,
                                                   std::vector<CompletionResult>* results,
                                                   const std::vector<std::string>& queues, int n,
                                                   int held) override;
  Result<int> ExtendLeases(const std::string& worker) override;
  Status UpdateProgress(std::int64_t id, const std::string& worker, int attempt,
                        std::optional<double> progress, std::optional<std::string> message,
                        std::optional<std::string> checkpoint) override;
  Result<std::vector<std::pair<std::int64_t, int>>> ClaimsOf(const std::string& worker) override;
  Result<std::vector<std::int64_t>> CancelRequested(const std::string& worker) override;
  Result<std::vector<std::int64_t>> Recover(const std::string& worker, bool spend_attempt,
                                            const std::string& reason) override;
  Result<std::vector<std::int64_t>> ReapExpiredLeases(std::int64_t now_ms) override;
  Result<std::vector<JobRef>> ExpireJobs(std::int64_t now_ms) override;

  Result<JobState> Cancel(std::int64_t id) override;
  Status Retry(std::int64_t id) override;
  Status Delete(std::int64_t id) override;
  Result<int> Prune(JobState state, std::int64_t before_ms, int batch) override;
  Result<std::int64_t> CountPrunable(JobState state, std::int64_t before_ms) override;
  Result<std::int64_t> CountSelected(BulkAction action, const JobSelector& which) override;
  Result<BulkBatch> ApplyBulk(BulkAction action, const JobSelector& which, std::int64_t after_id,
                              int batch) override;
  Status SetQueuePaused(const std::string& queue, bool paused) override;
  Result<std::vector<std::string>> PausedQueues() override;
  Status SyncJobTypes(std::span<const JobTypeDefaults> types) override;
  Result<std::vector<JobTypeDefaults>> JobTypes() override;
  Status SyncSchedules(std::span<const ScheduleSeed> wanted) override;
  Result<std::vector<ScheduleState>> Schedules() override;
  Result<std::vector<EnqueueResult>> AdvanceSchedule(const std::string& name, std::int64_t expected_next_ms,
                                                     std::int64_t next_run_ms,
                                                     std::span<const EnqueueRequest> runs,
                                                     std::int64_t last_run_ms) override;
  Result<EnqueueResult> TriggerSchedule(const std::string& name, const EnqueueRequest& run) override;
  Status SetSchedulePaused(const std::string& name, bool paused) override;

  Result<Job> Get(std::int64_t id) override;
  Result<std::vector<Job>> List(const JobFilter& filter) override;
  Result<std::vector<JobRef>> JobsAfter(std::int64_t after_id, int limit) override;
  Result<std::vector<Job>> RunningSince(std::int64_t started_before_ms) override;
  Result<std::vector<QueueStats>> Stats() override;
  Result<std::optional<std::int64_t>> NextRunAt() override;

  Status JoinNodes(const NodeInfo& me, std::int64_t node_timeout_ms) override;
  Result<bool> Heartbeat(const std::string& node, bool lead, std::int64_t node_timeout_ms) override;
  Result<std::vector<std::int64_t>> RescueDeadNodes(std::int64_t now_ms,
                                                    std::int64_t node_timeout_ms) override;
  Status LeaveNodes(const std::string& node) override;
  Result<std::vector<NodeStatus>> Nodes(std::int64_t node_timeout_ms) override;

  Result<std::unique_ptr<ChangeNotifier>> WatchChanges() override;
  // A passive WAL checkpoint, then ReleaseFreePages(2048).
  Result<MaintenanceReport> Maintain() override;

  // SQLite only (tools and benchmarks). A WAL checkpoint, PASSIVE or TRUNCATE; busy is not an
  // error.
  Status Checkpoint(bool truncate);
  // When at least a quarter of the file is free pages (after pruning), hands up to `max_pages`
  // of them back to the file system. Returns how many were released.
  Result<int> ReleaseFreePages(int max_pages);

 private:
  SqliteJobStore(SqliteDb db, StoreConfig config) : db_(std::move(db)), config_(std::move(config)) {}

  Result<std::vector<EnqueueResult>> InsertJobs(std::span<const EnqueueRequest> reqs);
  Status SetPid(const std::string& worker, const StartedProcess& p);
  Result<CompletionResult> Finish(const std::string& worker, const Completion& c, std::int64_t now);
  Result<std::vector<std::string>> ActiveQueues(const std::vector<std::string>& queues);
  Result<bool> AnyReady(const std::vector<std::string>& queues, std::int64_t now);
  Result<JobState> StateOf(std::int64_t id);
  Status RecordScheduleRun(const std::string& name, std::int64_t slot_ms, std::int64_t job_id);
  // A claim: ?1 worker, ?2 now, ?3 lease end; its WHERE picks the rows; read with ReadClaimed.
  static constexpr const char* kClaimSet =
      "UPDATE jobs SET state = 'running', worker = ?1, attempts = attempts + 1, started_at = ?2, "
      "  lease_until = ?3, pid = NULL, progress = NULL, progress_message = NULL ";
  static constexpr const char* kClaimReturning =
      " RETURNING id, type, queue, payload, priority, attempts, max_attempts, checkpoint, run_at, "
      "enqueued_at";
  static std::string ClaimSql(size_t nqueues);
  // Claims the `n` best ready jobs of `queues` (ClaimSql), in the caller's transaction.
  Status ClaimBest(const std::string& worker, const std::vector<std::string>& queues, int n, std::int64_t now,
                   std::vector<ClaimedJob>* claimed);
  // Claims as ClaimBest does, within config_.limits (sqlite_claim_limits.cc); in the caller's
  // transaction.
  Status ClaimWithinLimits(const std::string& worker, const std::vector<std::string>& queues, int n,
                           std::int64_t now, std::vector<ClaimedJob>* claimed);
  Status MarkHeld(std::int64_t id);
  static ClaimedJob ReadClaimed(const Statement& st);
  static Result<std::vector<std::int64_t>> Ids(Statement& st);
  // The rows of a statement selecting (or returning) id, queue, type.
  static Result<std::vector<JobRef>> JobRefs(Statement& st);
  static Status Stale(std::int64_t id, const std::string& worker);

  SqliteDb db_;
  const StoreConfig config_;
  bool last_claim_short_ = true;
};

// The schema version this program writes (PRAGMA user_version).
int CurrentSchemaVersion();

}  // namespace drover

#endif  // DROVER_JOBS_STORE_SQLITE_STORE_H_
