// The SQLite store: reading jobs, queue statistics and due times.
#include <map>

#include "common/time_util.h"
#include "jobs/store/sqlite_store.h"

namespace drover {
namespace {

// List: at most this many jobs in the state asked for are sorted from the state's index.
constexpr int kFewInState = 20'000;

constexpr const char* kJobColumns =
    "id, type, queue, payload, state, priority, run_at, expires_at, attempts, max_attempts, "
    "unique_key, worker, pid, lease_until, enqueued_at, started_at, finished_at, result, "
    "last_error, errors, progress, progress_message, checkpoint, cancel_requested, resource";

Job ReadJob(const Statement& s) {
  Job j;
  j.id = s.Int64(0);
  j.type = s.Text(1);
  j.queue = s.Text(2);
  j.payload = s.Text(3);
  j.state = ParseJobState(s.Text(4)).value_or(JobState::kQueued);
  j.priority = static_cast<int>(s.Int64(5));
  j.run_at_ms = s.Int64(6);
  j.expires_at_ms = s.OptInt64(7);
  j.attempts = static_cast<int>(s.Int64(8));
  j.max_attempts = static_cast<int>(s.Int64(9));
  j.unique_key = s.OptText(10);
  j.worker = s.OptText(11);
  j.pid = s.OptInt64(12);
  j.lease_until_ms = s.OptInt64(13);
  j.enqueued_at_ms = s.Int64(14);
  j.started_at_ms = s.OptInt64(15);
  j.finished_at_ms = s.OptInt64(16);
  j.result = s.OptText(17);
  j.last_error = s.OptText(18);
  j.errors = s.Text(19);
  j.progress = s.OptDouble(20);
  j.progress_message = s.OptText(21);
  j.checkpoint = s.OptText(22);
  j.cancel_requested = s.Int64(23) != 0;
  j.resource = s.OptText(24);
  return j;
}

// Every row `s` yields, as jobs (s selects kJobColumns).
Result<std::vector<Job>> ReadJobs(Statement& s) {
  std::vector<Job> out;
  while (true) {
    Result<bool> row = s.Step();
    if (!row.ok()) return row.status();
    if (!*row) return out;
    out.push_back(ReadJob(s));
  }
}

}  // namespace

Result<Job> SqliteJobStore::Get(std::int64_t id) {
  Result<Statement> st = db_.Prepare(std::string("SELECT ") + kJobColumns + " FROM jobs WHERE id = ?1");
  if (!st.ok()) return st.status();
  st->Bind(1, id);
  Result<bool> row = st->Step();
  if (!row.ok()) return row.status();
  if (!*row) return Status::NotFound("no job " + std::to_string(id));
  return ReadJob(*st);
}

Result<std::vector<Job>> SqliteJobStore::List(const JobFilter& f) {
  // Only the filters given: a page's `id < ?2` is then a range of the table's own key, and
  // `type = ?10` can walk the jobs_type index, however large the table.
  std::string where = "1", index;
  if (f.states.size() == 1) {
    const JobState one = f.states.front();
    // The state is written out (one of six names, never input): a partial index serves only a
    // query whose WHERE implies the index's own, which a bound parameter cannot.
    const std::string state = "state = '" + std::string(JobStateName(one)) + "'";
    where += " AND " + state;
    // Newest first is a walk down the table that stops at the page's end: quick while jobs in
    // the state are many, a walk of the whole table when they are few (the failed among a
    // million). Then the state's own partial index finds them all, to be sorted.
    const char* by_state = one == JobState::kQueued    ? "jobs_due"
                           : one == JobState::kRunning ? "jobs_running"
                                                       : "jobs_finished";
    const std::string implied = IsFinal(one) ? " AND finished_at IS NOT NULL" : "";
    Result<Statement> few = db_.Prepare(std::string("SELECT count(*) FROM (SELECT 1 FROM jobs INDEXED BY ") +
                                        by_state + " WHERE " + state + implied + " LIMIT ?1)");
    if (!few.ok()) return few.status();
    few->Bind(1, kFewInState + 1);
    Result<bool> row = few->Step();
    if (!row.ok()) return row.status().Prefixed("list jobs");
    const bool sparse = few->Int64(0) <= kFewInState;
    few->Reset();
    if (sparse) {
      index = std::string(" INDEXED BY ") + by_state;
      where += implied;
    }
  } else if (!f.states.empty()) {
    where += " AND state IN (";
    for (size_t i = 0; i < f.states.size(); ++i)
      where += (i ? ", '" : "'") + std::string(JobStateName(f.states[i])) + "'";
    where += ")";
  }
  // ?1 the limit, ?2 to ?4 the bounds, ?10 on the listed names (one `=` for one name, so that
  // its index serves).
  std::vector<const std::string*> names;
  auto any_of = [&](const char* column, const std::vector<std::string>& values) {
    if (values.empty()) return;
    where += std::string(" AND ") + column + (values.size() == 1 ? " = " : " IN (");
    for (size_t i = 0; i < values.size(); ++i) {
      names.push_back(&values[i]);
      where += (i ? ", ?" : "?") + std::to_string(9 + names.size());
    }
    if (values.size() > 1) where += ")";
  };
  any_of("type", f.types);
  any_of("queue", f.queues);
  any_of("resource", f.resources);
  if (f.before_id) where += " AND id < ?2";
  if (f.enqueued_after_ms) where += " AND enqueued_at > ?3";
  if (f.enqueued_before_ms) where += " AND enqueued_at < ?4";
  Result<Statement> st = db_.Prepare(std::string("SELECT ") + kJobColumns + " FROM jobs" + index + " WHERE " +
                                     where + " ORDER BY id DESC LIMIT ?1");
  if (!st.ok()) return st.status();
  st->Bind(1, f.limit).Bind(2, f.before_id).Bind(3, f.enqueued_after_ms).Bind(4, f.enqueued_before_ms);
  for (size_t i = 0; i < names.size(); ++i) st->Bind(static_cast<int>(10 + i), *names[i]);
  return ReadJobs(*st);
}

Result<std::vector<JobRef>> SqliteJobStore::JobsAfter(std::int64_t after_id, int limit) {
  Result<Statement> st =
      db_.Prepare(after_id < 0 ? "SELECT id, queue, type FROM jobs ORDER BY id DESC LIMIT 1"
                               : "SELECT id, queue, type FROM jobs WHERE id > ?1 ORDER BY id LIMIT ?2");
  if (!st.ok()) return st.status();
  if (after_id >= 0) st->Bind(1, after_id).Bind(2, limit);
  Result<std::vector<JobRef>> jobs = JobRefs(*st);
  if (!jobs.ok()) return jobs.status().Prefixed("read new jobs");
  return jobs;
}

Result<std::vector<Job>> SqliteJobStore::RunningSince(std::int64_t started_before_ms) {
  // Walks the small partial index of running jobs, not the table: the scheduler asks every tick.
  Result<Statement> st = db_.Prepare(std::string("SELECT ") + kJobColumns +
                                     " FROM jobs WHERE state = 'running' AND started_at < ?1");
  if (!st.ok()) return st.status();
  st->Bind(1, started_before_ms);
  Result<std::vector<Job>> jobs = ReadJobs(*st);
  if (!jobs.ok()) return jobs.status().Prefixed("read running jobs");
  return jobs;
}

Result<std::vector<QueueStats>> SqliteJobStore::Stats() {
  std::map<std::string, QueueStats> by_queue;
  Result<Statement> st = db_.Prepare(
      "SELECT queue, state, count(*), min(CASE WHEN state = 'queued' AND run_at <= ?1 THEN run_at END) "
      "FROM jobs GROUP BY queue, state");
  if (!st.ok()) return st.status();
  st->Bind(1, NowMs());
  while (true) {
    Result<bool> row = st->Step();
    if (!row.ok()) return row.status();
    if (!*row) break;
    QueueStats& q = by_queue[st->Text(0)];
    q.queue = st->Text(0);
    if (std::optional<JobState> s = ParseJobState(st->Text(1))) q.counts[static_cast<int>(*s)] = st->Int64(2);
    if (!st->IsNull(3)) q.oldest_ready_ms = st->Int64(3);
  }
  st->Reset();
  // Throughput, from the finished-jobs index: one range per final state.
  Result<Statement> done = db_.Prepare(
      "SELECT queue, sum(finished_at >= ?1 - 60000), count(*) FROM jobs "
      "WHERE state IN ('succeeded', 'failed', 'cancelled', 'expired') AND finished_at >= ?1 - 300000 "
      "GROUP BY queue");
  if (!done.ok()) return done.status();
  done->Bind(1, NowMs());
  while (true) {
    Result<bool> row = done->Step();
    if (!row.ok()) return row.status();
    if (!*row) break;
    QueueStats& q = by_queue[done->Text(0)];
    q.queue = done->Text(0);
    q.finished_last_minute = done->Int64(1);
    q.finished_last_5_minutes = done->Int64(2);
  }
  done->Reset();
  Result<std::vector<std::string>> paused = PausedQueues();
  if (!paused.ok()) return paused.status();
  for (const std::string& p : *paused) {
    by_queue[p].queue = p;
    by_queue[p].paused = true;
  }
  std::vector<QueueStats> out;
  for (auto& [_, q] : by_queue) out.push_back(std::move(q));
  return out;
}

Result<std::optional<std::int64_t>> SqliteJobStore::NextRunAt() {
  Result<Statement> st = db_.Prepare("SELECT min(run_at) FROM jobs WHERE state = 'queued'");
  if (!st.ok()) return st.status();
  Result<bool> row = st->Step();
  if (!row.ok()) return row.status();
  return st->OptInt64(0);
}

}  // namespace drover
