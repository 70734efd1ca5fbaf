#include "jobs/store/sqlite_store.h"

#include <algorithm>

#include "common/time_util.h"
#include "jobs/store/sqlite_schema.h"

namespace drover {

int CurrentSchemaVersion() { return LatestSchemaVersion(); }

Result<std::unique_ptr<SqliteJobStore>> SqliteJobStore::Open(const StoreConfig& config) {
  const std::string& path = config.database;
  SqliteOptions so;
  so.synchronous_full = config.synchronous_full;
  so.busy_timeout_ms = config.busy_timeout_ms;
  so.wal_autocheckpoint = config.background_maintenance ? 10000 : 1000;
  so.read_only = config.read_only;
  Result<SqliteDb> db = SqliteDb::Open(path, so);
  if (!db.ok()) return db.status();
  if (config.read_only) {
    Result<std::int64_t> v = db->PragmaInt("user_version");
    if (!v.ok()) return v.status().Prefixed("open database " + path);
    if (*v != LatestSchemaVersion()) {
      return Status::Unsupported("database " + path + " has schema version " + std::to_string(*v) +
                                 ", expected " + std::to_string(LatestSchemaVersion()));
    }
  } else {
    DROVER_RETURN_IF_ERROR(MigrateSchema(&*db));
  }
  DROVER_RETURN_IF_ERROR(CheckNoForeignTriggers(&*db));
  return std::unique_ptr<SqliteJobStore>(new SqliteJobStore(std::move(db).value(), config));
}

Result<EnqueueResult> SqliteJobStore::Enqueue(const EnqueueRequest& req) {
  Result<std::vector<EnqueueResult>> r = EnqueueBatch(std::span<const EnqueueRequest>(&req, 1));
  if (!r.ok()) return r.status();
  return r->front();
}

Result<std::vector<EnqueueResult>> SqliteJobStore::EnqueueBatch(std::span<const EnqueueRequest> reqs) {
  for (const EnqueueRequest& r : reqs)
    DROVER_RETURN_IF_ERROR(ValidateEnqueueRequest(r).Prefixed("enqueue " + r.type));
  Result<Transaction> tx = Transaction::Begin(&db_);
  if (!tx.ok()) return tx.status().Prefixed("enqueue");
  Result<std::vector<EnqueueResult>> out = InsertJobs(reqs);
  if (!out.ok()) return out.status();
  DROVER_RETURN_IF_ERROR(tx->Commit().Prefixed("enqueue"));
  return out;
}

// Inserts jobs inside the caller's transaction (see Enqueue for unique keys).
Result<std::vector<EnqueueResult>> SqliteJobStore::InsertJobs(std::span<const EnqueueRequest> reqs) {
  std::vector<EnqueueResult> out;
  out.reserve(reqs.size());
  std::int64_t now = NowMs();
  for (const EnqueueRequest& r : reqs) {
    Result<Statement> ins = db_.Prepare(
        "INSERT INTO jobs (type, queue, payload, priority, run_at, expires_at, max_attempts, "
        "unique_key, enqueued_at, resource) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10) "
        "ON CONFLICT DO NOTHING");
    if (!ins.ok()) return ins.status();
    ins->Bind(1, r.type)
        .Bind(2, r.queue)
        .Bind(3, r.payload)
        .Bind(4, r.priority)
        .Bind(5, r.run_at_ms.value_or(now))
        .Bind(6, r.expires_at_ms)
        .Bind(7, r.max_attempts)
        .Bind(8, r.unique_key)
        .Bind(9, now)
        .Bind(10, r.resource);
    DROVER_RETURN_IF_ERROR(ins->Run().Prefixed("enqueue " + r.type));
    if (db_.Changes() == 1) {
      out.push_back({db_.LastInsertRowid(), JobState::kQueued, false, std::nullopt});
      continue;
    }
    Result<Statement> existing = db_.Prepare(
        "SELECT id, state FROM jobs WHERE type = ?2 AND unique_key = ?1 AND state IN ('queued', 'running')");
    if (!existing.ok()) return existing.status();
    existing->Bind(1, r.unique_key.value_or("")).Bind(2, r.type);
    Result<bool> row = existing->Step();
    if (!row.ok()) return row.status();
    if (!*row)
      return Status::Internal("enqueue " + r.type + ": insert ignored but no job holds its unique key");
    out.push_back({existing->Int64(0), *ParseJobState(existing->Text(1)), true, std::nullopt});
  }
  return out;
}

Result<std::vector<ClaimedJob>> SqliteJobStore::CompleteAndClaim(const std::string& worker,
                                                                 const WorkerWrites& writes,
                                                                 std::vector<CompletionResult>* results,
                                                                 const std::vector<std::string>& queues,
                                                                 int n, int held) {
  std::vector<ClaimedJob> claimed;
  const int start_now = n;  // the held ones are claimed with them, and marked after: the worst
  n += held;
  const std::span<const Completion> done = writes.done;
  const bool writing = !done.empty() || !writes.started.empty();
  if (!writing && (n <= 0 || queues.empty())) return claimed;
  std::int64_t now = NowMs();
  // A claimer that found too little last time is probably idle: it looks before taking the
  // write lock, so idle workers do not queue up behind busy ones. A busy one goes straight in.
  bool look_first = !writing && last_claim_short_;
  std::vector<std::string> active;
  if (look_first) {
    Result<std::vector<std::string>> a = ActiveQueues(queues);
    if (!a.ok()) return a.status();
    active = std::move(a).value();
    if (active.empty()) return claimed;
    Result<bool> ready = AnyReady(active, now);
    if (!ready.ok()) return ready.status();
    if (!*ready) return claimed;
  }
  Result<Transaction> tx = Transaction::Begin(&db_);
  if (!tx.ok()) return tx.status().Prefixed("claim");
  if (!look_first && n > 0) {
    // Paused queues are left out up front: claims then never walk their rows.
    Result<std::vector<std::string>> a = ActiveQueues(queues);
    if (!a.ok()) return a.status();
    active = std::move(a).value();
  }
  if (active.empty()) n = 0;
  if (results) results->clear();
  for (const StartedProcess& p : writes.started) DROVER_RETURN_IF_ERROR(SetPid(worker, p));
  for (const Completion& c : done) {
    Result<CompletionResult> r = Finish(worker, c, now);
    if (!r.ok()) return r.status().Prefixed("finish job " + std::to_string(c.id));
    if (results) results->push_back(*r);
  }
  if (n > 0 && !config_.limits.empty()) {
    DROVER_RETURN_IF_ERROR(ClaimWithinLimits(worker, active, n, now, &claimed));
  } else if (n > 0) {
    DROVER_RETURN_IF_ERROR(ClaimBest(worker, active, n, now, &claimed));
  }
  // RETURNING gives no order guarantee; hand jobs out best first.
  std::sort(claimed.begin(), claimed.end(), [](const ClaimedJob& a, const ClaimedJob& b) {
    if (a.priority != b.priority) return a.priority > b.priority;
    if (a.run_at_ms != b.run_at_ms) return a.run_at_ms < b.run_at_ms;
    return a.id < b.id;
  });
  for (size_t i = static_cast<size_t>(start_now); i < claimed.size(); ++i) {
    DROVER_RETURN_IF_ERROR(MarkHeld(claimed[i].id));
  }
  DROVER_RETURN_IF_ERROR(tx->Commit().Prefixed("claim"));
  if (n > 0) last_claim_short_ = static_cast<int>(claimed.size()) < n;
  return claimed;
}

Status SqliteJobStore::ClaimBest(const std::string& worker, const std::vector<std::string>& queues, int n,
                                 std::int64_t now, std::vector<ClaimedJob>* claimed) {
  Result<Statement> st = db_.Prepare(ClaimSql(queues.size()));
  if (!st.ok()) return st.status();
  st->Bind(1, worker).Bind(2, now).Bind(3, now + config_.lease.count()).Bind(4, n);
  for (size_t i = 0; i < queues.size(); ++i) st->Bind(static_cast<int>(5 + i), queues[i]);
  while (true) {
    Result<bool> row = st->Step();
    if (!row.ok()) return row.status().Prefixed("claim");
    if (!*row) return Status::Ok();
    claimed->push_back(ReadClaimed(*st));
  }
}

ClaimedJob SqliteJobStore::ReadClaimed(const Statement& st) {
  ClaimedJob j;
  j.id = st.Int64(0);
  j.type = st.Text(1);
  j.queue = st.Text(2);
  j.payload = st.Text(3);
  j.priority = static_cast<int>(st.Int64(4));
  j.attempt = static_cast<int>(st.Int64(5));
  j.max_attempts = static_cast<int>(st.Int64(6));
  j.checkpoint = st.OptText(7);
  j.run_at_ms = st.Int64(8);
  j.enqueued_at_ms = st.Int64(9);
  return j;
}

std::string SqliteJobStore::ClaimSql(size_t nqueues) {
  std::string in;
  for (size_t i = 0; i < nqueues; ++i) in += (i ? ", ?" : "?") + std::to_string(5 + i);
  return std::string(kClaimSet) + "WHERE id IN (SELECT id FROM jobs WHERE state = 'queued' AND queue IN (" +
         in +
         ") AND run_at <= ?2 AND (expires_at IS NULL OR expires_at > ?2) "
         "  ORDER BY priority DESC, run_at, id LIMIT ?4) " +
         kClaimReturning;
}

// `queues` without the paused ones. An idle claimer reads them before its transaction: a
// pause is advisory, and a claim racing it by microseconds is no different from one just before.
Result<std::vector<std::string>> SqliteJobStore::ActiveQueues(const std::vector<std::string>& queues) {
  if (queues.empty()) return queues;
  Result<Statement> st = db_.Prepare("SELECT name FROM queues WHERE paused = 1");
  if (!st.ok()) return st.status();
  std::vector<std::string> out = queues;
  while (true) {
    Result<bool> row = st->Step();
    if (!row.ok()) return row.status();
    if (!*row) return out;
    std::erase(out, st->Text(0));
  }
}

Result<bool> SqliteJobStore::AnyReady(const std::vector<std::string>& queues, std::int64_t now) {
  std::string in;
  for (size_t i = 0; i < queues.size(); ++i) in += (i ? ", ?" : "?") + std::to_string(2 + i);
  Result<Statement> st = db_.Prepare("SELECT 1 FROM jobs WHERE state = 'queued' AND queue IN (" + in +
                                     ") AND run_at <= ?1 LIMIT 1");
  if (!st.ok()) return st.status();
  st->Bind(1, now);
  for (size_t i = 0; i < queues.size(); ++i) st->Bind(static_cast<int>(2 + i), queues[i]);
  return st->Step();
}

Result<CompletionResult> SqliteJobStore::Finish(const std::string& worker, const Completion& c,
                                                std::int64_t now) {
  using Kind = Completion::Kind;
  Result<Statement> st = [&]() -> Result<Statement> {
    switch (c.kind) {
      case Kind::kSucceeded:  // the new state is known: no RETURNING on the hot path
        return db_.Prepare(
            "UPDATE jobs SET state = 'succeeded', finished_at = ?4, result = ?5, lease_until = NULL, "
            "  progress = 1.0 "
            "WHERE id = ?1 AND state = 'running' AND worker = ?2 AND attempts = ?3");
      case Kind::kReleased:  // a cancel requested meanwhile takes effect now
        return db_.Prepare(
            "UPDATE jobs SET state = CASE WHEN cancel_requested = 1 THEN 'cancelled' ELSE 'queued' END, "
            "  finished_at = CASE WHEN cancel_requested = 1 THEN ?4 END, "
            "  attempts = attempts - 1, worker = NULL, started_at = NULL, lease_until = NULL, pid = NULL "
            "WHERE id = ?1 AND state = 'running' AND worker = ?2 AND attempts = ?3 RETURNING state");
      case Kind::kInterrupted:
        return db_.Prepare(
            "UPDATE jobs SET state = CASE WHEN cancel_requested = 1 THEN 'cancelled' ELSE 'queued' END, "
            "  finished_at = CASE WHEN cancel_requested = 1 THEN ?4 END, "
            "  attempts = CASE WHEN cancel_requested = 1 THEN attempts ELSE attempts - 1 END, "
            "  run_at = ?4, lease_until = NULL, pid = NULL, "
            "  errors = json_insert(errors, '$[#]', json_object('attempt', attempts, 'at', ?4, "
            "           'worker', worker, 'error', ?5, 'interrupted', json('true'))) "
            "WHERE id = ?1 AND state = 'running' AND worker = ?2 AND attempts = ?3 RETURNING state");
      default:
        return db_.Prepare(
            "UPDATE jobs SET "
            "  state = CASE WHEN cancel_requested = 1 THEN 'cancelled' "
            "               WHEN ?6 = 1 OR attempts >= max_attempts THEN 'failed' ELSE 'queued' END, "
            "  finished_at = CASE WHEN cancel_requested = 1 OR ?6 = 1 OR attempts >= max_attempts "
            "                     THEN ?4 END, "
            "  run_at = CASE WHEN cancel_requested = 0 AND ?6 = 0 AND attempts < max_attempts "
            "                THEN ?4 + ?7 ELSE run_at END, "
            "  last_error = ?5, lease_until = NULL, pid = NULL, "
            "  errors = json_insert(errors, '$[#]', json_object('attempt', attempts, 'at', ?4, "
            "           'worker', worker, 'error', ?8)) "
            "WHERE id = ?1 AND state = 'running' AND worker = ?2 AND attempts = ?3 RETURNING state");
    }
  }();
  if (!st.ok()) return st.status();
  st->Bind(1, c.id).Bind(2, worker).Bind(3, c.attempt).Bind(4, now).Bind(5, c.output);
  if (c.kind == Kind::kFailed || c.kind == Kind::kFailedPermanent) {
    st->Bind(6, c.kind == Kind::kFailedPermanent ? 1 : 0)
        .Bind(7, c.retry_delay_ms)
        .Bind(8, HistoryError(c.output));
  }
  if (c.kind == Kind::kSucceeded) {
    DROVER_RETURN_IF_ERROR(st->Run());
    bool applied = db_.Changes() == 1;
    return CompletionResult{c.id, !applied, applied ? JobState::kSucceeded : JobState::kRunning};
  }
  Result<bool> row = st->Step();
  if (!row.ok()) return row.status();
  CompletionResult r{c.id, !*row, JobState::kRunning};
  if (*row) r.state = ParseJobState(st->Text(0)).value_or(JobState::kQueued);
  return r;
}

Result<int> SqliteJobStore::ExtendLeases(const std::string& worker) {
  Result<Statement> st =
      db_.Prepare("UPDATE jobs SET lease_until = ?2 WHERE state = 'running' AND worker = ?1");
  if (!st.ok()) return st.status();
  st->Bind(1, worker).Bind(2, NowMs() + config_.lease.count());
  DROVER_RETURN_IF_ERROR(st->Run().Prefixed("extend leases of " + worker));
  return db_.Changes();
}

// Inside the caller's transaction; a stale record (the attempt is no longer `worker`'s) changes
// nothing.
Status SqliteJobStore::SetPid(const std::string& worker, const StartedProcess& p) {
  Result<Statement> st = db_.Prepare(
      "UPDATE jobs SET pid = coalesce(nullif(?4, 0), pid), started_at = coalesce(started_at, nullif(?5, 0)) "
      "WHERE id = ?1 AND state = 'running' AND worker = ?2 AND attempts = ?3");
  if (!st.ok()) return st.status();
  st->Bind(1, p.id).Bind(2, worker).Bind(3, p.attempt).Bind(4, p.pid).Bind(5, p.started_at_ms);
  return st->Run().Prefixed("job " + std::to_string(p.id));
}

Status SqliteJobStore::UpdateProgress(std::int64_t id, const std::string& worker, int attempt,
                                      std::optional<double> progress, std::optional<std::string> message,
                                      std::optional<std::string> checkpoint) {
  Result<Statement> st = db_.Prepare(
      "UPDATE jobs SET progress = coalesce(?4, progress), progress_message = coalesce(?5, progress_message), "
      "checkpoint = coalesce(?6, checkpoint) "
      "WHERE id = ?1 AND state = 'running' AND worker = ?2 AND attempts = ?3");
  if (!st.ok()) return st.status();
  st->Bind(1, id).Bind(2, worker).Bind(3, attempt).Bind(4, progress).Bind(5, message).Bind(6, checkpoint);
  DROVER_RETURN_IF_ERROR(st->Run().Prefixed("progress of job " + std::to_string(id)));
  return db_.Changes() == 1 ? Status::Ok() : Stale(id, worker);
}

// Inside the claim's transaction: a held job has not started.
Status SqliteJobStore::MarkHeld(std::int64_t id) {
  Result<Statement> st = db_.Prepare("UPDATE jobs SET started_at = NULL WHERE id = ?1");
  if (!st.ok()) return st.status();
  st->Bind(1, id);
  return st->Run().Prefixed("hold job " + std::to_string(id));
}

Result<std::vector<std::pair<std::int64_t, int>>> SqliteJobStore::ClaimsOf(const std::string& worker) {
  Result<Statement> st = db_.Prepare("SELECT id, attempts FROM jobs WHERE state = 'running' AND worker = ?1");
  if (!st.ok()) return st.status();
  st->Bind(1, worker);
  std::vector<std::pair<std::int64_t, int>> out;
  while (true) {
    Result<bool> row = st->Step();
    if (!row.ok()) return row.status().Prefixed("read the claims of " + worker);
    if (!*row) return out;
    out.emplace_back(st->Int64(0), static_cast<int>(st->Int64(1)));
  }
}

Result<std::vector<std::int64_t>> SqliteJobStore::CancelRequested(const std::string& worker) {
  Result<Statement> st =
      db_.Prepare("SELECT id FROM jobs WHERE state = 'running' AND worker = ?1 AND cancel_requested = 1");
  if (!st.ok()) return st.status();
  st->Bind(1, worker);
  return Ids(*st);
}

Result<std::vector<std::int64_t>> SqliteJobStore::Recover(const std::string& worker, bool spend_attempt,
                                                          const std::string& reason) {
  Result<Transaction> tx = Transaction::Begin(&db_);
  if (!tx.ok()) return tx.status().Prefixed("recover");
  Result<Statement> st = db_.Prepare(
      "UPDATE jobs SET "
      "  state = CASE WHEN cancel_requested = 1 THEN 'cancelled' "
      "               WHEN ?2 = 1 AND started_at IS NOT NULL AND attempts >= max_attempts THEN 'failed' "
      "               ELSE 'queued' END, "
      "  finished_at = CASE WHEN cancel_requested = 1 THEN ?4 "
      "                     WHEN ?2 = 1 AND started_at IS NOT NULL AND attempts >= max_attempts THEN ?4 END, "
      "  run_at = ?4, "
      "  attempts = CASE WHEN ?2 = 1 AND started_at IS NOT NULL THEN attempts ELSE max(attempts - 1, 0) END, "
      "  last_error = CASE WHEN ?2 = 1 AND started_at IS NOT NULL THEN ?3 ELSE last_error END, "
      "  errors = CASE WHEN started_at IS NULL THEN errors "
      "                ELSE json_insert(errors, '$[#]', json_object('attempt', attempts, 'at', ?4, "
      "                     'worker', worker, 'error', ?3, 'interrupted', json('true'))) END, "
      "  lease_until = NULL, pid = NULL "
      "WHERE state = 'running' AND (?1 = '' OR worker = ?1 "
      "  OR (substr(?1, -1) = '/' AND substr(worker, 1, length(?1)) = ?1)) RETURNING id");
  if (!st.ok()) return st.status();
  st->Bind(1, worker).Bind(2, spend_attempt ? 1 : 0).Bind(3, reason).Bind(4, NowMs());
  Result<std::vector<std::int64_t>> ids = Ids(*st);
  if (!ids.ok()) return ids.status().Prefixed("recover " + worker);
  DROVER_RETURN_IF_ERROR(tx->Commit().Prefixed("recover"));
  return ids;
}

Result<std::vector<std::int64_t>> SqliteJobStore::ReapExpiredLeases(std::int64_t now_ms) {
  Result<Transaction> tx = Transaction::Begin(&db_);
  if (!tx.ok()) return tx.status().Prefixed("reap leases");
  Result<Statement> st = db_.Prepare(
      "UPDATE jobs SET "
      "  state = CASE WHEN cancel_requested = 1 THEN 'cancelled' "
      "               WHEN started_at IS NOT NULL AND attempts >= max_attempts THEN 'failed' ELSE 'queued' "
      "END, "
      "  finished_at = CASE WHEN cancel_requested = 1 OR (started_at IS NOT NULL AND attempts >= "
      "max_attempts) "
      "                     THEN ?1 END, "
      "  run_at = ?1, attempts = CASE WHEN started_at IS NULL THEN attempts - 1 ELSE attempts END, "
      "  last_error = CASE WHEN started_at IS NULL THEN last_error "
      "                    ELSE 'lease expired: worker ' || worker || ' stopped renewing it' END, "
      "  errors = CASE WHEN started_at IS NULL THEN errors "
      "                ELSE json_insert(errors, '$[#]', json_object('attempt', attempts, 'at', ?1, "
      "                     'worker', worker, 'error', 'lease expired', 'interrupted', json('true'))) END, "
      "  lease_until = NULL, pid = NULL "
      "WHERE state = 'running' AND lease_until < ?1 RETURNING id");
  if (!st.ok()) return st.status();
  st->Bind(1, now_ms);
  Result<std::vector<std::int64_t>> ids = Ids(*st);
  if (!ids.ok()) return ids.status().Prefixed("reap leases");
  DROVER_RETURN_IF_ERROR(tx->Commit().Prefixed("reap leases"));
  return ids;
}

Result<std::vector<JobRef>> SqliteJobStore::ExpireJobs(std::int64_t now_ms) {
  Result<Statement> st = db_.Prepare(
      "UPDATE jobs SET state = 'expired', finished_at = ?1, "
      "  last_error = 'expired before it could start' "
      "WHERE state = 'queued' AND expires_at IS NOT NULL AND expires_at <= ?1 RETURNING id, queue, type");
  if (!st.ok()) return st.status();
  st->Bind(1, now_ms);
  Result<std::vector<JobRef>> expired = JobRefs(*st);
  if (!expired.ok()) return expired.status().Prefixed("expire jobs");
  return expired;
}

Result<std::vector<std::int64_t>> SqliteJobStore::Ids(Statement& st) {
  std::vector<std::int64_t> out;
  while (true) {
    Result<bool> row = st.Step();
    if (!row.ok()) return row.status();
    if (!*row) return out;
    out.push_back(st.Int64(0));
  }
}

Result<std::vector<JobRef>> SqliteJobStore::JobRefs(Statement& st) {
  std::vector<JobRef> out;
  while (true) {
    Result<bool> row = st.Step();
    if (!row.ok()) return row.status();
    if (!*row) return out;
    out.push_back({st.Int64(0), st.Text(1), st.Text(2)});
  }
}

Status SqliteJobStore::Stale(std::int64_t id, const std::string& worker) {
  return Status::Conflict("job " + std::to_string(id) + " is no longer run by " + worker);
}

}  // namespace drover
