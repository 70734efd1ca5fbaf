// The SQLite store: operator actions on jobs and queues (cancel, retry, delete, prune, pause) and the
// schedules.
#include <nlohmann/json.hpp>

#include "common/time_util.h"
#include "jobs/store/sqlite_store.h"

namespace drover {
namespace {

// What cancel, retry and delete write, whether for one job (?1 its id) or for a batch (?1 a JSON
// array of ids); ?2 is the time now.
constexpr const char* kCancelQueued =
    "UPDATE jobs SET state = 'cancelled', finished_at = ?2, last_error = 'cancelled' "
    "WHERE id IN (SELECT value FROM json_each(?1)) AND state = 'queued'";
constexpr const char* kCancelRunning =
    "UPDATE jobs SET cancel_requested = 1 WHERE id IN (SELECT value FROM json_each(?1)) AND state = "
    "'running'";
constexpr const char* kRequeue =
    "UPDATE OR IGNORE jobs SET state = 'queued', run_at = ?2, attempts = 0, finished_at = NULL, "
    "  expires_at = NULL, cancel_requested = 0, lease_until = NULL, pid = NULL "
    "WHERE id IN (SELECT value FROM json_each(?1)) AND state IN ('failed', 'cancelled', 'expired')";
constexpr const char* kDelete =
    "DELETE FROM jobs WHERE id IN (SELECT value FROM json_each(?1)) AND state != 'running'";

// The jobs a selector picks: ?1 a JSON array of state names, ?2 queue, ?3 type, ?4 enqueued before
// (each NULL for any).
constexpr const char* kSelected =
    "state IN (SELECT value FROM json_each(?1)) AND (?2 IS NULL OR queue = ?2) AND (?3 IS NULL OR type = ?3) "
    "AND (?4 IS NULL OR enqueued_at < ?4)";

Result<std::string> StatesJson(BulkAction action, const JobSelector& which) {
  Result<std::vector<JobState>> states = SelectedStates(action, which);
  if (!states.ok()) return states.status();
  nlohmann::json names = nlohmann::json::array();
  for (JobState s : *states) names.push_back(JobStateName(s));
  return names.dump();
}

// Runs one of the statements above on `ids` (a JSON array, or one id) at `now`; returns the
// number of rows it changed.
Result<int> RunOn(SqliteDb* db, const char* sql, const std::string& ids, std::int64_t now) {
  Result<Statement> st = db->Prepare(sql);
  if (!st.ok()) return st.status();
  st->Bind(1, ids).Bind(2, now);  // SQLite ignores a ?2 that the statement does not have
  DROVER_RETURN_IF_ERROR(st->Run());
  return db->Changes();
}

}  // namespace

Result<JobState> SqliteJobStore::Cancel(std::int64_t id) {
  const std::string what = "cancel job " + std::to_string(id);
  Result<Transaction> tx = Transaction::Begin(&db_);
  if (!tx.ok()) return tx.status().Prefixed(what);
  Result<JobState> state = StateOf(id);
  if (!state.ok()) return state.status();
  if (*state != JobState::kQueued && *state != JobState::kRunning) {
    return Status::Conflict("job " + std::to_string(id) + " is already " + std::string(JobStateName(*state)));
  }
  const char* sql = *state == JobState::kQueued ? kCancelQueued : kCancelRunning;
  DROVER_RETURN_IF_ERROR(RunOn(&db_, sql, "[" + std::to_string(id) + "]", NowMs()).status().Prefixed(what));
  DROVER_RETURN_IF_ERROR(tx->Commit().Prefixed(what));
  return *state == JobState::kQueued ? JobState::kCancelled : JobState::kRunning;
}

Status SqliteJobStore::Retry(std::int64_t id) {
  const std::string what = "retry job " + std::to_string(id);
  Result<Transaction> tx = Transaction::Begin(&db_);
  if (!tx.ok()) return tx.status().Prefixed(what);
  Result<JobState> state = StateOf(id);
  if (!state.ok()) return state.status();
  if (*state != JobState::kFailed && *state != JobState::kCancelled && *state != JobState::kExpired) {
    return Status::Conflict("job " + std::to_string(id) + " is " + std::string(JobStateName(*state)) +
                            "; only failed, cancelled or expired jobs can be retried");
  }
  Result<int> n = RunOn(&db_, kRequeue, "[" + std::to_string(id) + "]", NowMs());
  if (!n.ok()) return n.status().Prefixed(what);
  if (*n == 0) {
    return Status::Conflict("job " + std::to_string(id) +
                            ": another queued or running job holds its unique key");
  }
  return tx->Commit().Prefixed(what);
}

Status SqliteJobStore::Delete(std::int64_t id) {
  Result<int> n = RunOn(&db_, kDelete, "[" + std::to_string(id) + "]", NowMs());
  if (!n.ok()) return n.status().Prefixed("delete job " + std::to_string(id));
  if (*n == 1) return Status::Ok();
  Result<JobState> state = StateOf(id);
  if (!state.ok()) return state.status();
  return Status::Conflict("job " + std::to_string(id) + " is running; cancel it first");
}

Result<std::int64_t> SqliteJobStore::CountSelected(BulkAction action, const JobSelector& which) {
  Result<std::string> states = StatesJson(action, which);
  if (!states.ok()) return states.status();
  Result<Statement> st = db_.Prepare(std::string("SELECT count(*) FROM jobs WHERE ") + kSelected);
  if (!st.ok()) return st.status();
  st->Bind(1, *states).Bind(2, which.queue).Bind(3, which.type).Bind(4, which.enqueued_before_ms);
  Result<bool> row = st->Step();
  if (!row.ok()) return row.status().Prefixed("count jobs to " + std::string(BulkActionName(action)));
  return st->Int64(0);
}

Result<BulkBatch> SqliteJobStore::ApplyBulk(BulkAction action, const JobSelector& which,
                                            std::int64_t after_id, int batch) {
  const std::string what = std::string(BulkActionName(action)) + " jobs";
  Result<std::string> states = StatesJson(action, which);
  if (!states.ok()) return states.status();
  Result<Transaction> tx = Transaction::Begin(&db_);
  if (!tx.ok()) return tx.status().Prefixed(what);
  // Walks the primary key from `after_id`, so that each batch costs about the same.
  Result<Statement> pick = db_.Prepare(std::string("SELECT id FROM jobs WHERE ") + kSelected +
                                       " AND id > ?5 ORDER BY id LIMIT ?6");
  if (!pick.ok()) return pick.status();
  pick->Bind(1, *states).Bind(2, which.queue).Bind(3, which.type).Bind(4, which.enqueued_before_ms);
  pick->Bind(5, after_id).Bind(6, batch);
  BulkBatch out;
  nlohmann::json ids = nlohmann::json::array();
  while (true) {
    Result<bool> row = pick->Step();
    if (!row.ok()) return row.status().Prefixed(what);
    if (!*row) break;
    out.last_id = pick->Int64(0);
    ids.push_back(out.last_id);
  }
  pick->Reset();
  out.selected = static_cast<int>(ids.size());
  if (out.selected == 0) return out;
  const std::string list = ids.dump();
  const std::int64_t now = NowMs();
  std::vector<const char*> steps;
  switch (action) {
    case BulkAction::kCancel:
      steps = {kCancelQueued, kCancelRunning};
      break;
    case BulkAction::kRetry:
      steps = {kRequeue};
      break;
    case BulkAction::kDelete:
      steps = {kDelete};
      break;
  }
  for (const char* sql : steps) {
    Result<int> n = RunOn(&db_, sql, list, now);
    if (!n.ok()) return n.status().Prefixed(what);
    out.applied += *n;
    if (sql == kCancelRunning) out.running = *n;
  }
  DROVER_RETURN_IF_ERROR(tx->Commit().Prefixed(what));
  return out;
}

Result<JobState> SqliteJobStore::StateOf(std::int64_t id) {
  Result<Statement> st = db_.Prepare("SELECT state FROM jobs WHERE id = ?1");
  if (!st.ok()) return st.status();
  st->Bind(1, id);
  Result<bool> row = st->Step();
  if (!row.ok()) return row.status();
  if (!*row) return Status::NotFound("no job " + std::to_string(id));
  return ParseJobState(st->Text(0)).value_or(JobState::kQueued);
}

Result<int> SqliteJobStore::Prune(JobState state, std::int64_t before_ms, int batch) {
  if (!IsFinal(state)) return Status::InvalidArgument("only finished jobs can be pruned");
  Result<Statement> st = db_.Prepare(
      "DELETE FROM jobs WHERE id IN (SELECT id FROM jobs WHERE state = ?1 AND finished_at IS NOT NULL "
      "AND finished_at < ?2 LIMIT ?3)");
  if (!st.ok()) return st.status();
  st->Bind(1, JobStateName(state)).Bind(2, before_ms).Bind(3, batch);
  DROVER_RETURN_IF_ERROR(st->Run().Prefixed("prune"));
  return db_.Changes();
}

Result<std::int64_t> SqliteJobStore::CountPrunable(JobState state, std::int64_t before_ms) {
  if (!IsFinal(state)) return Status::InvalidArgument("only finished jobs can be pruned");
  Result<Statement> st = db_.Prepare(
      "SELECT count(*) FROM jobs WHERE state = ?1 AND finished_at IS NOT NULL AND finished_at < ?2");
  if (!st.ok()) return st.status();
  st->Bind(1, JobStateName(state)).Bind(2, before_ms);
  Result<bool> row = st->Step();
  if (!row.ok()) return row.status().Prefixed("count prunable jobs");
  return st->Int64(0);
}

Status SqliteJobStore::SetQueuePaused(const std::string& queue, bool paused) {
  Result<Statement> st = db_.Prepare(
      "INSERT INTO queues (name, paused) VALUES (?1, ?2) "
      "ON CONFLICT (name) DO UPDATE SET paused = excluded.paused");
  if (!st.ok()) return st.status();
  st->Bind(1, queue).Bind(2, paused ? 1 : 0);
  return st->Run().Prefixed(std::string(paused ? "pause" : "resume") + " queue " + queue);
}

Result<std::vector<std::string>> SqliteJobStore::PausedQueues() {
  Result<Statement> st = db_.Prepare("SELECT name FROM queues WHERE paused = 1 ORDER BY name");
  if (!st.ok()) return st.status();
  std::vector<std::string> out;
  while (true) {
    Result<bool> row = st->Step();
    if (!row.ok()) return row.status();
    if (!*row) return out;
    out.push_back(st->Text(0));
  }
}

Status SqliteJobStore::SyncJobTypes(std::span<const JobTypeDefaults> types) {
  Result<Transaction> tx = Transaction::Begin(&db_);
  if (!tx.ok()) return tx.status().Prefixed("store job types");
  nlohmann::json names = nlohmann::json::array();
  for (const JobTypeDefaults& t : types) {
    Result<Statement> up = db_.Prepare(
        "INSERT INTO job_types (type, queue, priority, max_attempts, is_unique) VALUES (?1, ?2, ?3, ?4, ?5) "
        "ON CONFLICT (type) DO UPDATE SET queue = excluded.queue, priority = excluded.priority, "
        "max_attempts = excluded.max_attempts, is_unique = excluded.is_unique");
    if (!up.ok()) return up.status();
    up->Bind(1, t.type)
        .Bind(2, t.queue)
        .Bind(3, t.priority)
        .Bind(4, t.max_attempts)
        .Bind(5, t.unique ? 1 : 0);
    DROVER_RETURN_IF_ERROR(up->Run().Prefixed("store job type " + t.type));
    names.push_back(t.type);
  }
  Result<Statement> del =
      db_.Prepare("DELETE FROM job_types WHERE type NOT IN (SELECT value FROM json_each(?1))");
  if (!del.ok()) return del.status();
  del->Bind(1, names.dump());
  DROVER_RETURN_IF_ERROR(del->Run().Prefixed("store job types"));
  return tx->Commit().Prefixed("store job types");
}

Result<std::vector<JobTypeDefaults>> SqliteJobStore::JobTypes() {
  Result<Statement> st =
      db_.Prepare("SELECT type, queue, priority, max_attempts, is_unique FROM job_types ORDER BY type");
  if (!st.ok()) return st.status();
  std::vector<JobTypeDefaults> out;
  while (true) {
    Result<bool> row = st->Step();
    if (!row.ok()) return row.status().Prefixed("read job types");
    if (!*row) return out;
    out.push_back({st->Text(0), st->Text(1), static_cast<int>(st->Int64(2)), static_cast<int>(st->Int64(3)),
                   st->Int64(4) != 0});
  }
}

Status SqliteJobStore::SyncSchedules(std::span<const ScheduleSeed> wanted) {
  Result<Transaction> tx = Transaction::Begin(&db_);
  if (!tx.ok()) return tx.status().Prefixed("store schedules");
  nlohmann::json names = nlohmann::json::array();
  for (const ScheduleSeed& w : wanted) {
    Result<Statement> up = db_.Prepare(
        "INSERT INTO schedules (name, spec, next_run) VALUES (?1, ?2, ?3) "
        "ON CONFLICT (name) DO UPDATE SET spec = excluded.spec, next_run = excluded.next_run "
        "WHERE spec != excluded.spec");
    if (!up.ok()) return up.status();
    up->Bind(1, w.name).Bind(2, w.spec).Bind(3, w.next_run_ms);
    DROVER_RETURN_IF_ERROR(up->Run().Prefixed("store schedule " + w.name));
    names.push_back(w.name);
  }
  Result<Statement> del =
      db_.Prepare("DELETE FROM schedules WHERE name NOT IN (SELECT value FROM json_each(?1))");
  if (!del.ok()) return del.status();
  del->Bind(1, names.dump());
  DROVER_RETURN_IF_ERROR(del->Run().Prefixed("store schedules"));
  return tx->Commit().Prefixed("store schedules");
}

Result<std::vector<ScheduleState>> SqliteJobStore::Schedules() {
  Result<Statement> st = db_.Prepare(
      "SELECT s.name, s.spec, s.next_run, s.last_run, s.last_job_id, s.paused, j.state, j.type "
      "FROM schedules s LEFT JOIN jobs j ON j.id = s.last_job_id ORDER BY s.name");
  if (!st.ok()) return st.status();
  std::vector<ScheduleState> out;
  while (true) {
    Result<bool> row = st->Step();
    if (!row.ok()) return row.status().Prefixed("read schedules");
    if (!*row) return out;
    ScheduleState s;
    s.name = st->Text(0);
    s.spec = st->Text(1);
    s.next_run_ms = st->Int64(2);
    s.last_run_ms = st->OptInt64(3);
    s.last_job_id = st->OptInt64(4);
    s.paused = st->Int64(5) != 0;
    if (std::optional<std::string> state = st->OptText(6)) s.last_job_state = ParseJobState(*state);
    s.last_job_type = st->OptText(7);
    out.push_back(std::move(s));
  }
}

Result<std::vector<EnqueueResult>> SqliteJobStore::AdvanceSchedule(const std::string& name,
                                                                   std::int64_t expected_next_ms,
                                                                   std::int64_t next_run_ms,
                                                                   std::span<const EnqueueRequest> runs,
                                                                   std::int64_t last_run_ms) {
  const std::string what = "schedule " + name;
  for (const EnqueueRequest& r : runs) DROVER_RETURN_IF_ERROR(ValidateEnqueueRequest(r).Prefixed(what));
  Result<Transaction> tx = Transaction::Begin(&db_);
  if (!tx.ok()) return tx.status().Prefixed(what);
  Result<Statement> move =
      db_.Prepare("UPDATE schedules SET next_run = ?3 WHERE name = ?1 AND next_run = ?2");
  if (!move.ok()) return move.status();
  move->Bind(1, name).Bind(2, expected_next_ms).Bind(3, next_run_ms);
  DROVER_RETURN_IF_ERROR(move->Run().Prefixed(what));
  if (db_.Changes() != 1) return Status::Conflict(what + ": this time slot was handled already");
  Result<std::vector<EnqueueResult>> out = InsertJobs(runs);
  if (!out.ok()) return out.status().Prefixed(what);
  for (size_t i = 0; i < out->size(); ++i) {
    if (!(*out)[i].duplicate) continue;
    // The slot is this transaction's (next_run moved above), so the key's holder is a row someone
    // else wrote: it must not silence the run.
    EnqueueRequest keyless = runs[i];
    keyless.unique_key.reset();
    Result<std::vector<EnqueueResult>> again = InsertJobs(std::span<const EnqueueRequest>(&keyless, 1));
    if (!again.ok()) return again.status().Prefixed(what);
    const std::int64_t holder = (*out)[i].id;
    (*out)[i] = again->front();
    (*out)[i].slot_key_holder = holder;
  }
  if (!out->empty()) DROVER_RETURN_IF_ERROR(RecordScheduleRun(name, last_run_ms, out->back().id));
  DROVER_RETURN_IF_ERROR(tx->Commit().Prefixed(what));
  return out;
}

Result<EnqueueResult> SqliteJobStore::TriggerSchedule(const std::string& name, const EnqueueRequest& run) {
  const std::string what = "trigger schedule " + name;
  DROVER_RETURN_IF_ERROR(ValidateEnqueueRequest(run).Prefixed(what));
  Result<Transaction> tx = Transaction::Begin(&db_);
  if (!tx.ok()) return tx.status().Prefixed(what);
  Result<std::vector<EnqueueResult>> out = InsertJobs(std::span<const EnqueueRequest>(&run, 1));
  if (!out.ok()) return out.status().Prefixed(what);
  DROVER_RETURN_IF_ERROR(RecordScheduleRun(name, NowMs(), out->front().id));
  if (db_.Changes() != 1)
    return Status::NotFound("no schedule " + name + " is stored (is droverd running with it?)");
  DROVER_RETURN_IF_ERROR(tx->Commit().Prefixed(what));
  return out->front();
}

Status SqliteJobStore::SetSchedulePaused(const std::string& name, bool paused) {
  Result<Statement> st = db_.Prepare("UPDATE schedules SET paused = ?2 WHERE name = ?1");
  if (!st.ok()) return st.status();
  st->Bind(1, name).Bind(2, paused ? 1 : 0);
  DROVER_RETURN_IF_ERROR(st->Run().Prefixed(std::string(paused ? "pause" : "resume") + " schedule " + name));
  if (db_.Changes() != 1)
    return Status::NotFound("no schedule " + name + " is stored (is droverd running with it?)");
  return Status::Ok();
}

Status SqliteJobStore::RecordScheduleRun(const std::string& name, std::int64_t slot_ms, std::int64_t job_id) {
  Result<Statement> st = db_.Prepare("UPDATE schedules SET last_run = ?2, last_job_id = ?3 WHERE name = ?1");
  if (!st.ok()) return st.status();
  st->Bind(1, name).Bind(2, slot_ms).Bind(3, job_id);
  return st->Run().Prefixed("schedule " + name);
}

}  // namespace drover
