// The database server's clock in epoch milliseconds: node heartbeats and the leader's lease are
// compared on one clock, whatever the skew between hosts.
inline constexpr const char* kServerNowMs = "(extract(epoch FROM clock_timestamp()) * 1000)::bigint";

// PgJobStore: the JobStore on one PostgreSQL database shared by every process of every node.
// The only code with PostgreSQL job SQL in it (pg_store*.cc; the schema in pg_schema.cc). Claims
// take rows with FOR UPDATE SKIP LOCKED; a worker's outcomes, process ids and its next claim go
// in one transaction sent in one round trip (libpq pipeline mode).
// Every method runs on this process's own connection; not thread-safe.
#ifndef DROVER_JOBS_STORE_PG_STORE_H_
#define DROVER_JOBS_STORE_PG_STORE_H_

#include <memory>
#include <string>
#include <vector>

#include "common/pg.h"
#include "jobs/store/job_store.h"

namespace drover {

class PgJobStore final : public JobStore {
 public:
  // Connects to `config.database` (a libpq URI) and applies pending migrations to
  // `config.schema`. Fails naming the server and the reason: unreachable, authentication,
  // a schema newer than this program.
  static Result<std::unique_ptr<PgJobStore>> Open(const StoreConfig& config);

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

  // LISTEN on this store's own connection (no connection more per process); fd -1 when
  // StoreConfig::listen is false.
  Status JoinNodes(const NodeInfo& me, std::int64_t node_timeout_ms) override;
  Result<bool> Heartbeat(const std::string& node, bool lead, std::int64_t node_timeout_ms) override;
  Result<std::vector<std::int64_t>> RescueDeadNodes(std::int64_t now_ms,
                                                    std::int64_t node_timeout_ms) override;
  Status LeaveNodes(const std::string& node) override;
  Result<std::vector<NodeStatus>> Nodes(std::int64_t node_timeout_ms) override;

  Result<std::unique_ptr<ChangeNotifier>> WatchChanges() override;
  // Nothing: the server's autovacuum keeps the tables small.
  Result<MaintenanceReport> Maintain() override;

 private:
  PgJobStore(Pg pg, StoreConfig config) : pg_(std::move(pg)), config_(std::move(config)) {}

  // Adds to `batch` what inserts `reqs`; returns the indexes of their results.
  std::vector<size_t> AddInserts(PgBatch* batch, std::span<const EnqueueRequest> reqs, std::int64_t now);
  // Reads the inserts' results; a job not inserted for its unique key gets the holder's id.
  Result<std::vector<EnqueueResult>> InsertResults(std::span<const EnqueueRequest> reqs,
                                                   const std::vector<PgResult>& results,
                                                   const std::vector<size_t>& at);
  // Claims up to `n` jobs (the ones after the first `start_now` held) within config_.limits, in
  // the caller's open transaction.
  Status ClaimWithinLimits(const std::string& worker, const std::vector<std::string>& queues, int n,
                           int start_now, std::int64_t now, std::vector<ClaimedJob>* claimed);
  Result<JobState> LockedStateOf(std::int64_t id);
  Status RecordScheduleRun(const std::string& name, std::int64_t slot_ms, std::int64_t job_id);
  static ClaimedJob ReadClaimed(const PgResult& r, int row);
  static std::string RecoverSet(const std::string& last_error, const std::string& history);
  static std::vector<std::int64_t> Ids(const PgResult& r);
  // The rows of a result of id, queue, type.
  static std::vector<JobRef> JobRefs(const PgResult& r);
  // A claim's UPDATE of the rows in `ranked` (id, rank), `held_after` the parameter holding how
  // many start now; and the whole claim of the best ready jobs (parameters in pg_store.cc).
  static std::string ClaimUpdate(const std::string& held_after);
  static std::string ClaimBeatSql();  // $1 worker, $2 ClaimBeatSlack in ms
  PgParams ClaimBeatParams(const std::string& worker) const;
  static std::string ClaimSql(bool one_queue, bool held);
  static constexpr const char* kClaimReturning =
      "RETURNING j.id, j.type, j.queue, j.payload::text, j.priority, j.attempts, j.max_attempts, "
      "j.checkpoint::text, j.run_at, j.enqueued_at";
  static std::string ActiveQueues(const std::string& param);
  static PgParams ClaimParams(const std::string& worker, std::int64_t now, std::int64_t lease_end,
                              const std::vector<std::string>& queues, int n, int start_now);

  Pg pg_;
  const StoreConfig config_;
};

}  // namespace drover

#endif  // DROVER_JOBS_STORE_PG_STORE_H_
