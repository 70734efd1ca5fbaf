// The PostgreSQL store: reading jobs, queue statistics and due times; housekeeping.
#include <map>

#include "common/time_util.h"
#include "jobs/store/pg_change_notifier.h"
#include "jobs/store/pg_schema.h"
#include "jobs/store/pg_store.h"

namespace drover {
namespace {

constexpr const char* kJobColumns =
    "id, type, queue, payload::text, state, priority, run_at, expires_at, attempts, max_attempts, "
    "unique_key, worker, pid, lease_until, enqueued_at, started_at, finished_at, result, "
    "last_error, errors::text, progress, progress_message, checkpoint::text, cancel_requested, resource";

std::vector<Job> ReadJobs(const PgResult& r) {
  std::vector<Job> out;
  out.reserve(r.rows());
  for (int i = 0; i < r.rows(); ++i) {
    Job j;
    j.id = r.Int64(i, 0);
    j.type = r.Text(i, 1);
    j.queue = r.Text(i, 2);
    j.payload = r.Text(i, 3);
    j.state = ParseJobState(r.Text(i, 4)).value_or(JobState::kQueued);
    j.priority = static_cast<int>(r.Int64(i, 5));
    j.run_at_ms = r.Int64(i, 6);
    j.expires_at_ms = r.OptInt64(i, 7);
    j.attempts = static_cast<int>(r.Int64(i, 8));
    j.max_attempts = static_cast<int>(r.Int64(i, 9));
    j.unique_key = r.OptText(i, 10);
    j.worker = r.OptText(i, 11);
    j.pid = r.OptInt64(i, 12);
    j.lease_until_ms = r.OptInt64(i, 13);
    j.enqueued_at_ms = r.Int64(i, 14);
    j.started_at_ms = r.OptInt64(i, 15);
    j.finished_at_ms = r.OptInt64(i, 16);
    j.result = r.OptText(i, 17);
    j.last_error = r.OptText(i, 18);
    j.errors = r.Text(i, 19);
    j.progress = r.OptDouble(i, 20);
    j.progress_message = r.OptText(i, 21);
    j.checkpoint = r.OptText(i, 22);
    j.cancel_requested = r.Bool(i, 23);
    j.resource = r.OptText(i, 24);
    out.push_back(std::move(j));
  }
  return out;
}

}  // namespace

Result<Job> PgJobStore::Get(std::int64_t id) {
  PgParams p;
  p.Add(id);
  Result<PgResult> r = pg_.Exec(std::string("SELECT ") + kJobColumns + " FROM jobs WHERE id = $1", p);
  if (!r.ok()) return r.status();
  if (r->rows() == 0) return Status::NotFound("no job " + std::to_string(id));
  return ReadJobs(*r).front();
}

Result<std::vector<Job>> PgJobStore::List(const JobFilter& f) {
  std::vector<std::string> states;
  for (JobState s : f.states) states.emplace_back(JobStateName(s));
  PgParams p;
  p.AddArray(states).AddArray(f.types).AddArray(f.queues).AddArray(f.resources);
  p.Add(f.before_id).Add(f.enqueued_after_ms).Add(f.enqueued_before_ms).Add(f.limit);
  Result<PgResult> r = pg_.Exec(
      std::string("SELECT ") + kJobColumns +
          " FROM jobs WHERE (cardinality($1::text[]) = 0 OR state = ANY($1)) "
          "AND (cardinality($2::text[]) = 0 OR type = ANY($2)) AND (cardinality($3::text[]) = 0 OR queue = "
          "ANY($3)) "
          "AND (cardinality($4::text[]) = 0 OR resource = ANY($4)) AND ($5::bigint IS NULL OR id < $5) "
          "AND ($6::bigint IS NULL OR enqueued_at > $6) AND ($7::bigint IS NULL OR enqueued_at < $7) "
          "ORDER BY id DESC LIMIT $8",
      p);
  if (!r.ok()) return r.status().Prefixed("list jobs");
  return ReadJobs(*r);
}

Result<std::vector<JobRef>> PgJobStore::JobsAfter(std::int64_t after_id, int limit) {
  PgParams p;
  if (after_id >= 0) p.Add(after_id).Add(limit);
  Result<PgResult> r =
      pg_.Exec(after_id < 0 ? "SELECT id, queue, type FROM jobs ORDER BY id DESC LIMIT 1"
                            : "SELECT id, queue, type FROM jobs WHERE id > $1 ORDER BY id LIMIT $2",
               p);
  if (!r.ok()) return r.status().Prefixed("read new jobs");
  return JobRefs(*r);
}

Result<std::vector<Job>> PgJobStore::RunningSince(std::int64_t started_before_ms) {
  PgParams p;
  p.Add(started_before_ms);
  Result<PgResult> r = pg_.Exec(
      std::string("SELECT ") + kJobColumns + " FROM jobs WHERE state = 'running' AND started_at < $1", p);
  if (!r.ok()) return r.status().Prefixed("read running jobs");
  return ReadJobs(*r);
}

Result<std::vector<QueueStats>> PgJobStore::Stats() {
  std::map<std::string, QueueStats> by_queue;
  PgParams p;
  p.Add(NowMs());
  Result<PgResult> counts = pg_.Exec(
      "SELECT queue, state, count(*), min(run_at) FILTER (WHERE state = 'queued' AND run_at <= $1) "
      "FROM jobs GROUP BY queue, state",
      p);
  if (!counts.ok()) return counts.status().Prefixed("read queue statistics");
  for (int i = 0; i < counts->rows(); ++i) {
    QueueStats& q = by_queue[counts->Text(i, 0)];
    q.queue = counts->Text(i, 0);
    if (std::optional<JobState> s = ParseJobState(counts->Text(i, 1)))
      q.counts[static_cast<int>(*s)] = counts->Int64(i, 2);
    if (!counts->IsNull(i, 3)) q.oldest_ready_ms = counts->Int64(i, 3);
  }
  // Throughput, from the finished-jobs index: one range per final state.
  Result<PgResult> done = pg_.Exec(
      "SELECT queue, count(*) FILTER (WHERE finished_at >= $1::bigint - 60000), count(*) FROM jobs "
      "WHERE state IN ('succeeded', 'failed', 'cancelled', 'expired') AND finished_at >= $1::bigint - 300000 "
      "GROUP BY queue",
      p);
  if (!done.ok()) return done.status().Prefixed("read queue statistics");
  for (int i = 0; i < done->rows(); ++i) {
    QueueStats& q = by_queue[done->Text(i, 0)];
    q.queue = done->Text(i, 0);
    q.finished_last_minute = done->Int64(i, 1);
    q.finished_last_5_minutes = done->Int64(i, 2);
  }
  Result<std::vector<std::string>> paused = PausedQueues();
  if (!paused.ok()) return paused.status();
  for (const std::string& name : *paused) {
    by_queue[name].queue = name;
    by_queue[name].paused = true;
  }
  std::vector<QueueStats> out;
  for (auto& [_, q] : by_queue) out.push_back(std::move(q));
  return out;
}

Result<std::optional<std::int64_t>> PgJobStore::NextRunAt() {
  Result<PgResult> r = pg_.Exec("SELECT min(run_at + 0) FROM jobs WHERE state = 'queued'");
  if (!r.ok()) return r.status();
  return r->OptInt64(0, 0);
}

Result<std::unique_ptr<ChangeNotifier>> PgJobStore::WatchChanges() {
  if (!config_.listen) return std::unique_ptr<ChangeNotifier>(new NoChangeNotifier());
  return PgChangeNotifier::Create(&pg_, PgChannel(config_.schema));
}

Result<MaintenanceReport> PgJobStore::Maintain() { return MaintenanceReport{}; }

}  // namespace drover
