// The PostgreSQL store: operator actions on jobs and queues (cancel, retry, delete, prune, pause)
// and the schedules.
#include "common/time_util.h"
#include "jobs/store/pg_store.h"

namespace drover {
namespace {

// What cancel, retry and delete write, for one job or a batch: $1 an array of ids, $2 now.
constexpr const char* kCancelQueued =
    "UPDATE jobs SET state = 'cancelled', finished_at = $2, last_error = 'cancelled' "
    "WHERE id = ANY($1::bigint[]) AND state = 'queued'";
constexpr const char* kCancelRunning =
    "UPDATE jobs SET cancel_requested = true WHERE id = ANY($1::bigint[]) AND state = 'running' "
    "  AND $2::bigint IS NOT NULL";
// A job whose unique key a live job holds stays put; of several retried jobs sharing a key,
// the oldest goes.
constexpr const char* kRequeue =
    "WITH chosen AS (SELECT id, unique_key, row_number() OVER (PARTITION BY type, unique_key ORDER BY id) AS "
    "n "
    "  FROM jobs c WHERE id = ANY($1::bigint[]) AND state IN ('failed', 'cancelled', 'expired') "
    "  AND (unique_key IS NULL OR NOT EXISTS (SELECT 1 FROM jobs o WHERE o.type = c.type "
    "       AND o.unique_key = c.unique_key AND o.state IN ('queued', 'running')))) "
    "UPDATE jobs j SET state = 'queued', run_at = $2, attempts = 0, finished_at = NULL, expires_at = NULL, "
    "  cancel_requested = false, lease_until = NULL, pid = NULL "
    "FROM chosen WHERE j.id = chosen.id AND (chosen.unique_key IS NULL OR chosen.n = 1)";
constexpr const char* kDelete =
    "DELETE FROM jobs WHERE id = ANY($1::bigint[]) AND state <> 'running' AND $2::bigint IS NOT NULL";

// The jobs a selector picks: $1 an array of state names, $2 queue, $3 type, $4 enqueued before
// (each NULL for any).
constexpr const char* kSelected =
    "state = ANY($1::text[]) AND ($2::text IS NULL OR queue = $2) AND ($3::text IS NULL OR type = $3) "
    "AND ($4::bigint IS NULL OR enqueued_at < $4)";

Result<PgParams> SelectorParams(BulkAction action, const JobSelector& which) {
  Result<std::vector<JobState>> states = SelectedStates(action, which);
  if (!states.ok()) return states.status();
  std::vector<std::string> names;
  for (JobState s : *states) names.emplace_back(JobStateName(s));
  PgParams p;
  p.AddArray(names).Add(which.queue).Add(which.type).Add(which.enqueued_before_ms);
  return p;
}

// Runs one of the statements above on `ids` at `now`; returns the number of rows it changed.
Result<int> RunOn(Pg* pg, const char* sql, const std::vector<std::int64_t>& ids, std::int64_t now) {
  PgParams p;
  p.AddArray(ids).Add(now);
  Result<PgResult> r = pg->Exec(sql, p);
  if (!r.ok()) return r.status();
  return r->affected();
}

}  // namespace

Result<JobState> PgJobStore::LockedStateOf(std::int64_t id) {
  PgParams p;
  p.Add(id);
  Result<PgResult> r = pg_.Exec("SELECT state FROM jobs WHERE id = $1 FOR UPDATE", p);
  if (!r.ok()) return r.status();
  if (r->rows() == 0) return Status::NotFound("no job " + std::to_string(id));
  return ParseJobState(r->Text(0, 0)).value_or(JobState::kQueued);
}

Result<JobState> PgJobStore::Cancel(std::int64_t id) {
  const std::string what = "cancel job " + std::to_string(id);
  Result<PgTransaction> tx = PgTransaction::Begin(&pg_);
  if (!tx.ok()) return tx.status().Prefixed(what);
  Result<JobState> state = LockedStateOf(id);
  if (!state.ok()) return state.status();
  if (*state != JobState::kQueued && *state != JobState::kRunning) {
    return Status::Conflict("job " + std::to_string(id) + " is already " + std::string(JobStateName(*state)));
  }
  const char* sql = *state == JobState::kQueued ? kCancelQueued : kCancelRunning;
  DROVER_RETURN_IF_ERROR(RunOn(&pg_, sql, {id}, NowMs()).status().Prefixed(what));
  DROVER_RETURN_IF_ERROR(tx->Commit().Prefixed(what));
  return *state == JobState::kQueued ? JobState::kCancelled : JobState::kRunning;
}

Status PgJobStore::Retry(std::int64_t id) {
  const std::string what = "retry job " + std::to_string(id);
  Result<PgTransaction> tx = PgTransaction::Begin(&pg_);
  if (!tx.ok()) return tx.status().Prefixed(what);
  Result<JobState> state = LockedStateOf(id);
  if (!state.ok()) return state.status();
  if (*state != JobState::kFailed && *state != JobState::kCancelled && *state != JobState::kExpired) {
    return Status::Conflict("job " + std::to_string(id) + " is " + std::string(JobStateName(*state)) +
                            "; only failed, cancelled or expired jobs can be retried");
  }
  Result<int> n = RunOn(&pg_, kRequeue, {id}, NowMs());
  if (!n.ok() && n.status().code() != Status::Code::kConflict) return n.status().Prefixed(what);
  if (!n.ok() || *n == 0) {
    return Status::Conflict("job " + std::to_string(id) +
                            ": another queued or running job holds its unique key");
  }
  return tx->Commit().Prefixed(what);
}

Status PgJobStore::Delete(std::int64_t id) {
  Result<int> n = RunOn(&pg_, kDelete, {id}, NowMs());
  if (!n.ok()) return n.status().Prefixed("delete job " + std::to_string(id));
  if (*n == 1) return Status::Ok();
  PgParams p;
  p.Add(id);
  Result<PgResult> r = pg_.Exec("SELECT 1 FROM jobs WHERE id = $1", p);
  if (!r.ok()) return r.status();
  if (r->rows() == 0) return Status::NotFound("no job " + std::to_string(id));
  return Status::Conflict("job " + std::to_string(id) + " is running; cancel it first");
}

Result<std::int64_t> PgJobStore::CountSelected(BulkAction action, const JobSelector& which) {
  Result<PgParams> p = SelectorParams(action, which);
  if (!p.ok()) return p.status();
  Result<PgResult> r = pg_.Exec(std::string("SELECT count(*) FROM jobs WHERE ") + kSelected, *p);
  if (!r.ok()) return r.status().Prefixed("count jobs to " + std::string(BulkActionName(action)));
  return r->Int64(0, 0);
}

Result<BulkBatch> PgJobStore::ApplyBulk(BulkAction action, const JobSelector& which, std::int64_t after_id,
                                        int batch) {
  const std::string what = std::string(BulkActionName(action)) + " jobs";
  Result<PgParams> p = SelectorParams(action, which);
  if (!p.ok()) return p.status();
  p->Add(after_id).Add(batch);
  Result<PgTransaction> tx = PgTransaction::Begin(&pg_);
  if (!tx.ok()) return tx.status().Prefixed(what);
  // Walks the primary key from `after_id`, so that each batch costs about the same; the rows are
  // locked, so a claim cannot take one between the pick and the change.
  Result<PgResult> pick = pg_.Exec(
      std::string("SELECT id FROM jobs WHERE ") + kSelected + " AND id > $5 ORDER BY id LIMIT $6 FOR UPDATE",
      *p);
  if (!pick.ok()) return pick.status().Prefixed(what);
  BulkBatch out;
  std::vector<std::int64_t> ids;
  for (int i = 0; i < pick->rows(); ++i) ids.push_back(pick->Int64(i, 0));
  out.selected = static_cast<int>(ids.size());
  if (ids.empty()) return out;
  out.last_id = ids.back();
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
    Result<int> n = RunOn(&pg_, sql, ids, now);
    if (!n.ok()) return n.status().Prefixed(what);
    out.applied += *n;
    if (sql == kCancelRunning) out.running = *n;
  }
  DROVER_RETURN_IF_ERROR(tx->Commit().Prefixed(what));
  return out;
}

Result<int> PgJobStore::Prune(JobState state, std::int64_t before_ms, int batch) {
  if (!IsFinal(state)) return Status::InvalidArgument("only finished jobs can be pruned");
  PgParams p;
  p.Add(JobStateName(state)).Add(before_ms).Add(batch);
  Result<PgResult> r = pg_.Exec(
      "DELETE FROM jobs WHERE id IN (SELECT id FROM jobs WHERE state = $1 AND finished_at IS NOT NULL "
      "AND finished_at < $2 LIMIT $3)",
      p);
  if (!r.ok()) return r.status().Prefixed("prune");
  return r->affected();
}

Result<std::int64_t> PgJobStore::CountPrunable(JobState state, std::int64_t before_ms) {
  if (!IsFinal(state)) return Status::InvalidArgument("only finished jobs can be pruned");
  PgParams p;
  p.Add(JobStateName(state)).Add(before_ms);
  Result<PgResult> r = pg_.Exec(
      "SELECT count(*) FROM jobs WHERE state = $1 AND finished_at IS NOT NULL AND finished_at < $2", p);
  if (!r.ok()) return r.status().Prefixed("count prunable jobs");
  return r->Int64(0, 0);
}

Status PgJobStore::SetQueuePaused(const std::string& queue, bool paused) {
  PgParams p;
  p.Add(queue).Add(paused);
  return pg_
      .Exec(
          "INSERT INTO queues (name, paused) VALUES ($1, $2) "
          "ON CONFLICT (name) DO UPDATE SET paused = excluded.paused",
          p)
      .status()
      .Prefixed(std::string(paused ? "pause" : "resume") + " queue " + queue);
}

Result<std::vector<std::string>> PgJobStore::PausedQueues() {
  Result<PgResult> r = pg_.Exec("SELECT name FROM queues WHERE paused ORDER BY name");
  if (!r.ok()) return r.status();
  std::vector<std::string> out;
  for (int i = 0; i < r->rows(); ++i) out.push_back(r->Text(i, 0));
  return out;
}

Status PgJobStore::SyncJobTypes(std::span<const JobTypeDefaults> types) {
  PgBatch batch;
  batch.Add("BEGIN");
  std::vector<std::string> names;
  for (const JobTypeDefaults& t : types) {
    PgParams p;
    p.Add(t.type).Add(t.queue).Add(std::int64_t{t.priority}).Add(std::int64_t{t.max_attempts}).Add(t.unique);
    batch.Add(
        "INSERT INTO job_types (type, queue, priority, max_attempts, is_unique) VALUES ($1, $2, $3, $4, $5) "
        "ON CONFLICT (type) DO UPDATE SET queue = excluded.queue, priority = excluded.priority, "
        "max_attempts = excluded.max_attempts, is_unique = excluded.is_unique "
        "WHERE (job_types.queue, job_types.priority, job_types.max_attempts, job_types.is_unique) IS "
        "DISTINCT FROM "
        "(excluded.queue, excluded.priority, excluded.max_attempts, excluded.is_unique)",
        std::move(p));
    names.push_back(t.type);
  }
  PgParams del;
  del.AddArray(names);
  batch.Add("DELETE FROM job_types WHERE type <> ALL($1::text[])", std::move(del));
  batch.Add("COMMIT");
  return pg_.Run(batch).status().Prefixed("store job types");
}

Result<std::vector<JobTypeDefaults>> PgJobStore::JobTypes() {
  Result<PgResult> r =
      pg_.Exec("SELECT type, queue, priority, max_attempts, is_unique FROM job_types ORDER BY type");
  if (!r.ok()) return r.status().Prefixed("read job types");
  std::vector<JobTypeDefaults> out;
  for (int i = 0; i < r->rows(); ++i) {
    out.push_back({r->Text(i, 0), r->Text(i, 1), static_cast<int>(r->Int64(i, 2)),
                   static_cast<int>(r->Int64(i, 3)), r->Bool(i, 4)});
  }
  return out;
}

Status PgJobStore::SyncSchedules(std::span<const ScheduleSeed> wanted) {
  PgBatch batch;
  batch.Add("BEGIN");
  std::vector<std::string> names;
  for (const ScheduleSeed& w : wanted) {
    PgParams p;
    p.Add(w.name).Add(w.spec).Add(w.next_run_ms);
    batch.Add(
        "INSERT INTO schedules (name, spec, next_run) VALUES ($1, $2, $3) "
        "ON CONFLICT (name) DO UPDATE SET spec = excluded.spec, next_run = excluded.next_run "
        "WHERE schedules.spec <> excluded.spec",
        std::move(p));
    names.push_back(w.name);
  }
  PgParams del;
  del.AddArray(names);
  batch.Add("DELETE FROM schedules WHERE name <> ALL($1::text[])", std::move(del));
  batch.Add("COMMIT");
  return pg_.Run(batch).status().Prefixed("store schedules");
}

Result<std::vector<ScheduleState>> PgJobStore::Schedules() {
  Result<PgResult> r = pg_.Exec(
      "SELECT s.name, s.spec, s.next_run, s.last_run, s.last_job_id, s.paused, j.state, j.type "
      "FROM schedules s LEFT JOIN jobs j ON j.id = s.last_job_id ORDER BY s.name");
  if (!r.ok()) return r.status().Prefixed("read schedules");
  std::vector<ScheduleState> out;
  for (int i = 0; i < r->rows(); ++i) {
    ScheduleState s;
    s.name = r->Text(i, 0);
    s.spec = r->Text(i, 1);
    s.next_run_ms = r->Int64(i, 2);
    s.last_run_ms = r->OptInt64(i, 3);
    s.last_job_id = r->OptInt64(i, 4);
    s.paused = r->Bool(i, 5);
    if (std::optional<std::string> state = r->OptText(i, 6)) s.last_job_state = ParseJobState(*state);
    s.last_job_type = r->OptText(i, 7);
    out.push_back(std::move(s));
  }
  return out;
}

Result<std::vector<EnqueueResult>> PgJobStore::AdvanceSchedule(const std::string& name,
                                                               std::int64_t expected_next_ms,
                                                               std::int64_t next_run_ms,
                                                               std::span<const EnqueueRequest> runs,
                                                               std::int64_t last_run_ms) {
  const std::string what = "schedule " + name;
  for (const EnqueueRequest& r : runs) DROVER_RETURN_IF_ERROR(ValidateEnqueueRequest(r).Prefixed(what));
  Result<PgTransaction> tx = PgTransaction::Begin(&pg_);
  if (!tx.ok()) return tx.status().Prefixed(what);
  PgParams move;
  move.Add(name).Add(expected_next_ms).Add(next_run_ms);
  Result<PgResult> moved =
      pg_.Exec("UPDATE schedules SET next_run = $3 WHERE name = $1 AND next_run = $2", move);
  if (!moved.ok()) return moved.status().Prefixed(what);
  if (moved->affected() != 1) return Status::Conflict(what + ": this time slot was handled already");
  PgBatch batch;
  std::vector<size_t> at = AddInserts(&batch, runs, NowMs());
  std::vector<PgResult> results;
  if (!batch.empty()) {
    Result<std::vector<PgResult>> r = pg_.Run(batch);
    if (!r.ok()) return r.status().Prefixed(what);
    results = std::move(r).value();
  }
  Result<std::vector<EnqueueResult>> out = InsertResults(runs, results, at);
  if (!out.ok()) return out.status().Prefixed(what);
  for (size_t i = 0; i < out->size(); ++i) {
    if (!(*out)[i].duplicate) continue;
    // The slot is this transaction's (next_run moved above), so the key's holder is a row someone
    // else wrote: it must not silence the run.
    EnqueueRequest keyless = runs[i];
    keyless.unique_key.reset();
    const std::span<const EnqueueRequest> one(&keyless, 1);
    PgBatch insert;
    std::vector<size_t> one_at = AddInserts(&insert, one, NowMs());
    Result<std::vector<PgResult>> inserted = pg_.Run(insert);
    if (!inserted.ok()) return inserted.status().Prefixed(what);
    Result<std::vector<EnqueueResult>> again = InsertResults(one, *inserted, one_at);
    if (!again.ok()) return again.status().Prefixed(what);
    const std::int64_t holder = (*out)[i].id;
    (*out)[i] = again->front();
    (*out)[i].slot_key_holder = holder;
  }
  if (!out->empty()) DROVER_RETURN_IF_ERROR(RecordScheduleRun(name, last_run_ms, out->back().id));
  DROVER_RETURN_IF_ERROR(tx->Commit().Prefixed(what));
  return out;
}

Result<EnqueueResult> PgJobStore::TriggerSchedule(const std::string& name, const EnqueueRequest& run) {
  const std::string what = "trigger schedule " + name;
  DROVER_RETURN_IF_ERROR(ValidateEnqueueRequest(run).Prefixed(what));
  Result<PgTransaction> tx = PgTransaction::Begin(&pg_);
  if (!tx.ok()) return tx.status().Prefixed(what);
  PgParams p;
  p.Add(name);
  Result<PgResult> exists = pg_.Exec("SELECT 1 FROM schedules WHERE name = $1 FOR UPDATE", p);
  if (!exists.ok()) return exists.status().Prefixed(what);
  if (exists->rows() == 0)
    return Status::NotFound("no schedule " + name + " is stored (is droverd running with it?)");
  PgBatch batch;
  std::vector<size_t> at = AddInserts(&batch, std::span<const EnqueueRequest>(&run, 1), NowMs());
  Result<std::vector<PgResult>> results = pg_.Run(batch);
  if (!results.ok()) return results.status().Prefixed(what);
  Result<std::vector<EnqueueResult>> out =
      InsertResults(std::span<const EnqueueRequest>(&run, 1), *results, at);
  if (!out.ok()) return out.status().Prefixed(what);
  DROVER_RETURN_IF_ERROR(RecordScheduleRun(name, NowMs(), out->front().id));
  DROVER_RETURN_IF_ERROR(tx->Commit().Prefixed(what));
  return out->front();
}

Status PgJobStore::SetSchedulePaused(const std::string& name, bool paused) {
  PgParams p;
  p.Add(name).Add(paused);
  Result<PgResult> r = pg_.Exec("UPDATE schedules SET paused = $2 WHERE name = $1", p);
  if (!r.ok()) return r.status().Prefixed(std::string(paused ? "pause" : "resume") + " schedule " + name);
  if (r->affected() != 1)
    return Status::NotFound("no schedule " + name + " is stored (is droverd running with it?)");
  return Status::Ok();
}

Status PgJobStore::RecordScheduleRun(const std::string& name, std::int64_t slot_ms, std::int64_t job_id) {
  PgParams p;
  p.Add(name).Add(slot_ms).Add(job_id);
  return pg_.Exec("UPDATE schedules SET last_run = $2, last_job_id = $3 WHERE name = $1", p)
      .status()
      .Prefixed("schedule " + name);
}

}  // namespace drover
