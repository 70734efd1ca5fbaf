#include "jobs/store/pg_store.h"

#include <algorithm>
#include <set>

#include "common/config.h"
#include "common/escape.h"
#include "common/time_util.h"
#include "jobs/store/pg_schema.h"

namespace drover {

// What a claim writes: $1 worker, $2 now, $3 lease end; `held_after` names the parameter with
// the number of jobs that start now (the rest are held: no started_at). Rows come from `ranked`
// (id, rank: 1 for the best job).
std::string PgJobStore::ClaimUpdate(const std::string& held_after) {
  return "UPDATE jobs j SET state = 'running', worker = $1, attempts = j.attempts + 1, "
         "  started_at = CASE WHEN r.rank <= " +
         held_after +
         " THEN $2::bigint END, lease_until = $3, pid = NULL, progress = NULL, progress_message = NULL "
         "FROM ranked r WHERE j.id = r.id " +
         std::string(kClaimReturning);
}

// An array of the queues in the text[] parameter `param` that are not paused. Worked out once
// per statement: a join with the queues table would leave the planner guessing how many jobs
// pass, and it then sorts every due job instead of reading the ready index in order.
std::string PgJobStore::ActiveQueues(const std::string& param) {
  return "ARRAY(SELECT q FROM unnest(" + param +
         "::text[]) AS q WHERE NOT coalesce((SELECT paused FROM queues WHERE name = q), false))";
}

// The best ready jobs: $4 the queue (or an array of queues), $5 how many; with `held`, $6 how many
// start now (the rest are held).
std::string PgJobStore::ClaimSql(bool one_queue, bool held) {
  const std::string ready =
      std::string("FROM jobs WHERE state = 'queued' AND ") +
      (one_queue
           ? "queue = $4::text AND NOT coalesce((SELECT paused FROM queues WHERE name = $4::text), false)"
           : "queue = ANY(" + ActiveQueues("$4") + ")") +
      " AND run_at <= $2 AND (expires_at IS NULL OR expires_at > $2) "
      "ORDER BY priority DESC, run_at, id LIMIT $5 FOR UPDATE SKIP LOCKED";
  if (held) {
    return "WITH picked AS (SELECT id, priority, run_at " + ready +
           "), ranked AS (SELECT id, row_number() OVER (ORDER BY priority DESC, run_at, id) AS rank FROM "
           "picked) " +
           ClaimUpdate("$6");
  }
  // Every job starts now: no ranking (the cheaper statement, for the fastest jobs).
  return "UPDATE jobs j SET state = 'running', worker = $1, attempts = j.attempts + 1, started_at = $2, "
         "  lease_until = $3, pid = NULL, progress = NULL, progress_message = NULL "
         "WHERE j.id = ANY(ARRAY(SELECT id " +
         ready + ")) " + kClaimReturning;
}

PgParams PgJobStore::ClaimParams(const std::string& worker, std::int64_t now, std::int64_t lease_end,
                                 const std::vector<std::string>& queues, int n, int start_now) {
  PgParams p;
  p.Add(worker).Add(now).Add(lease_end);
  if (queues.size() == 1) {
    p.Add(queues[0]);
  } else {
    p.AddArray(queues);
  }
  p.Add(n);
  if (start_now < n) p.Add(start_now);  // ClaimSql's `held`
  return p;
}

namespace {

// The outcome of an attempt: $1 id, $2 worker, $3 attempt, $4 now, $5 output (not for a release);
// the guard makes a stale worker's write change nothing.
constexpr const char* kGuard = " WHERE id = $1 AND state = 'running' AND worker = $2 AND attempts = $3";

// Every outcome but success (CompleteAndClaim writes those of a batch in one statement).
std::string FinishSql(Completion::Kind kind) {
  using Kind = Completion::Kind;
  switch (kind) {
    case Kind::kReleased:  // a cancel requested meanwhile takes effect now
      return std::string(
                 "UPDATE jobs SET state = CASE WHEN cancel_requested THEN 'cancelled' ELSE 'queued' END, "
                 "  finished_at = CASE WHEN cancel_requested THEN $4::bigint END, "
                 "  attempts = attempts - 1, worker = NULL, started_at = NULL, lease_until = NULL, pid = "
                 "NULL") +
             kGuard + " RETURNING state";
    case Kind::kInterrupted:
      return std::string(
                 "UPDATE jobs SET state = CASE WHEN cancel_requested THEN 'cancelled' ELSE 'queued' END, "
                 "  finished_at = CASE WHEN cancel_requested THEN $4::bigint END, "
                 "  attempts = CASE WHEN cancel_requested THEN attempts ELSE attempts - 1 END, "
                 "  run_at = $4, lease_until = NULL, pid = NULL, "
                 "  errors = errors || jsonb_build_array(jsonb_build_object('attempt', attempts, 'at', "
                 "    $4::bigint, 'worker', worker, 'error', $5::text, 'interrupted', true))") +
             kGuard + " RETURNING state";
    default:  // failed: $6 1 for no more attempts, $7 the retry delay, $8 the error as kept
      return std::string(
                 "UPDATE jobs SET "
                 "  state = CASE WHEN cancel_requested THEN 'cancelled' "
                 "               WHEN $6::int = 1 OR attempts >= max_attempts THEN 'failed' ELSE 'queued' "
                 "END, "
                 "  finished_at = CASE WHEN cancel_requested OR $6::int = 1 OR attempts >= max_attempts "
                 "                     THEN $4::bigint END, "
                 "  run_at = CASE WHEN NOT cancel_requested AND $6::int = 0 AND attempts < max_attempts "
                 "                THEN $4::bigint + $7::bigint ELSE run_at END, "
                 "  last_error = $5, lease_until = NULL, pid = NULL, "
                 "  errors = errors || jsonb_build_array(jsonb_build_object('attempt', attempts, 'at', "
                 "    $4::bigint, 'worker', worker, 'error', $8::text))") +
             kGuard + " RETURNING state";
  }
}

PgParams FinishParams(const std::string& worker, const Completion& c, std::int64_t now) {
  using Kind = Completion::Kind;
  PgParams p;
  p.Add(c.id).Add(worker).Add(c.attempt).Add(now);
  if (c.kind != Kind::kReleased) p.Add(ValidUtf8(c.output, true));
  if (c.kind == Kind::kFailed || c.kind == Kind::kFailedPermanent) {
    p.Add(c.kind == Kind::kFailedPermanent ? 1 : 0)
        .Add(c.retry_delay_ms)
        .Add(ValidUtf8(HistoryError(c.output), true));
  }
  return p;
}

}  // namespace

Result<std::unique_ptr<PgJobStore>> PgJobStore::Open(const StoreConfig& config) {
  // The schema goes into SQL and the NOTIFY channel's name as it is (a program embedding drover
  // may set it without the config's check).
  if (!IsSqlIdentifier(config.schema))
    return Status::InvalidArgument("schema \"" + EscapeControl(config.schema) +
                                   "\" is not a plain SQL name: lowercase letters, digits and _");
  // Plans made for the values at hand: a plan cached for any value walks every due job and
  // sorts them where the ready index, read in order, stops after the few a claim takes.
  Result<Pg> pg = Pg::Connect(config.database, "SET search_path = \"" + config.schema +
                                                   "\"; SET plan_cache_mode = force_custom_plan");
  if (!pg.ok()) return pg.status();
  if (config.read_only) {
    Result<int> v = PgSchemaVersion(&*pg, config.schema);
    if (!v.ok()) return v.status().Prefixed("open schema " + config.schema + " at " + pg->Where());
    if (*v != LatestPgSchemaVersion()) {
      return Status::Unsupported("schema " + config.schema + " at " + pg->Where() + " has version " +
                                 std::to_string(*v) + ", expected " +
                                 std::to_string(LatestPgSchemaVersion()));
    }
  } else {
    DROVER_RETURN_IF_ERROR(MigratePgSchema(&*pg, config.schema));
  }
  DROVER_RETURN_IF_ERROR(CheckNoForeignPgTriggers(&*pg, config.schema));
  return std::unique_ptr<PgJobStore>(new PgJobStore(std::move(pg).value(), config));
}

Result<EnqueueResult> PgJobStore::Enqueue(const EnqueueRequest& req) {
  Result<std::vector<EnqueueResult>> r = EnqueueBatch(std::span<const EnqueueRequest>(&req, 1));
  if (!r.ok()) return r.status();
  return r->front();
}

Result<std::vector<EnqueueResult>> PgJobStore::EnqueueBatch(std::span<const EnqueueRequest> reqs) {
  for (const EnqueueRequest& r : reqs)
    DROVER_RETURN_IF_ERROR(ValidateEnqueueRequest(r).Prefixed("enqueue " + r.type));
  const bool keyed =
      std::any_of(reqs.begin(), reqs.end(), [](const EnqueueRequest& r) { return r.unique_key; });
  PgBatch batch;
  if (!keyed) {  // one round trip
    batch.Add("BEGIN");
    std::vector<size_t> at = AddInserts(&batch, reqs, NowMs());
    batch.Add("COMMIT");
    Result<std::vector<PgResult>> results = pg_.Run(batch);
    if (!results.ok()) return results.status().Prefixed("enqueue");
    return InsertResults(reqs, *results, at);
  }
  // A job left out for its unique key is looked up inside the transaction.
  Result<PgTransaction> tx = PgTransaction::Begin(&pg_);
  if (!tx.ok()) return tx.status().Prefixed("enqueue");
  std::vector<size_t> at = AddInserts(&batch, reqs, NowMs());
  Result<std::vector<PgResult>> results = pg_.Run(batch);
  if (!results.ok()) return results.status().Prefixed("enqueue");
  Result<std::vector<EnqueueResult>> out = InsertResults(reqs, *results, at);
  if (!out.ok()) return out.status();
  DROVER_RETURN_IF_ERROR(tx->Commit().Prefixed("enqueue"));
  return out;
}

std::vector<size_t> PgJobStore::AddInserts(PgBatch* batch, std::span<const EnqueueRequest> reqs,
                                           std::int64_t now) {
  std::vector<size_t> at;
  for (const EnqueueRequest& r : reqs) {
    PgParams p;
    p.Add(r.type).Add(r.queue).Add(r.payload).Add(r.priority).Add(r.run_at_ms.value_or(now));
    p.Add(r.expires_at_ms).Add(r.max_attempts).Add(r.unique_key).Add(now).Add(r.resource);
    at.push_back(batch->Add(
        "INSERT INTO jobs (type, queue, payload, priority, run_at, expires_at, max_attempts, unique_key, "
        "  enqueued_at, resource) VALUES ($1, $2, $3::jsonb, $4, $5, $6, $7, $8, $9, $10) "
        "ON CONFLICT DO NOTHING RETURNING id",
        std::move(p)));
  }
  return at;
}

Result<std::vector<EnqueueResult>> PgJobStore::InsertResults(std::span<const EnqueueRequest> reqs,
                                                             const std::vector<PgResult>& results,
                                                             const std::vector<size_t>& at) {
  std::vector<EnqueueResult> out;
  out.reserve(reqs.size());
  for (size_t i = 0; i < reqs.size(); ++i) {
    const PgResult& r = results[at[i]];
    if (r.rows() == 1) {
      out.push_back({r.Int64(0, 0), JobState::kQueued, false, std::nullopt});
      continue;
    }
    PgParams p;
    p.Add(reqs[i].unique_key.value_or("")).Add(reqs[i].type);
    Result<PgResult> existing = pg_.Exec(
        "SELECT id, state FROM jobs WHERE type = $2 AND unique_key = $1 AND state IN ('queued', 'running')",
        p);
    if (!existing.ok()) return existing.status().Prefixed("enqueue " + reqs[i].type);
    if (existing->rows() == 0)
      return Status::Busy("enqueue " + reqs[i].type + ": its unique key changed hands meanwhile; try again");
    out.push_back({existing->Int64(0, 0), *ParseJobState(existing->Text(0, 1)), true, std::nullopt});
  }
  return out;
}

std::vector<std::int64_t> PgJobStore::Ids(const PgResult& r) {
  std::vector<std::int64_t> ids;
  for (int i = 0; i < r.rows(); ++i) ids.push_back(r.Int64(i, 0));
  return ids;
}

std::vector<JobRef> PgJobStore::JobRefs(const PgResult& r) {
  std::vector<JobRef> out;
  for (int i = 0; i < r.rows(); ++i) out.push_back({r.Int64(i, 0), r.Text(i, 1), r.Text(i, 2)});
  return out;
}

Result<std::vector<ClaimedJob>> PgJobStore::CompleteAndClaim(const std::string& worker,
                                                             const WorkerWrites& writes,
                                                             std::vector<CompletionResult>* results,
                                                             const std::vector<std::string>& queues, int n,
                                                             int held) {
  std::vector<ClaimedJob> claimed;
  const int start_now = n;
  n += held;
  if (queues.empty()) n = 0;
  if (writes.done.empty() && writes.started.empty() && n <= 0) return claimed;
  const std::int64_t now = NowMs();
  const bool limited = n > 0 && !config_.limits.empty();
  // Under limits the claim reads and decides between round trips: a transaction of our own.
  std::optional<PgTransaction> tx;
  PgBatch batch;
  if (limited) {
    Result<PgTransaction> t = PgTransaction::Begin(&pg_);
    if (!t.ok()) return t.status().Prefixed("claim");
    tx.emplace(std::move(t).value());
  } else {
    batch.Add("BEGIN");
  }
  // Process ids and successes (nearly every outcome) go in one statement each: per row, a
  // statement costs more than the row.
  if (!writes.started.empty()) {
    std::vector<std::int64_t> ids, attempts, pids, starts;
    for (const StartedProcess& p : writes.started) {
      ids.push_back(p.id);
      attempts.push_back(p.attempt);
      pids.push_back(p.pid);
      starts.push_back(p.started_at_ms);
    }
    PgParams params;
    params.AddArray(ids).AddArray(attempts).AddArray(pids).AddArray(starts).Add(worker);
    batch.Add(
        "UPDATE jobs j SET pid = coalesce(nullif(u.pid, 0), j.pid), "
        "  started_at = coalesce(j.started_at, nullif(u.started_at, 0)) "
        "FROM unnest($1::bigint[], $2::int[], $3::bigint[], $4::bigint[]) AS u(id, attempt, pid, started_at) "
        "WHERE j.id = u.id AND j.state = 'running' AND j.worker = $5 AND j.attempts = u.attempt",
        std::move(params));
  }
  std::vector<std::int64_t> ok_ids, ok_attempts;
  std::vector<std::string> ok_results;
  std::vector<size_t> other_at(writes.done.size(), 0);  // where each other outcome's result is
  for (size_t i = 0; i < writes.done.size(); ++i) {
    const Completion& c = writes.done[i];
    if (c.kind == Completion::Kind::kSucceeded) {
      ok_ids.push_back(c.id);
      ok_attempts.push_back(c.attempt);
      ok_results.push_back(ValidUtf8(c.output, true));
    } else {
      other_at[i] = batch.Add(FinishSql(c.kind), FinishParams(worker, c, now));
    }
  }
  size_t ok_at = 0;
  if (!ok_ids.empty()) {
    PgParams params;
    params.AddArray(ok_ids).AddArray(ok_attempts).AddArray(ok_results).Add(worker).Add(now);
    ok_at = batch.Add(
        "UPDATE jobs j SET state = 'succeeded', finished_at = $5, result = u.result, lease_until = NULL, "
        "  progress = 1.0 "
        "FROM unnest($1::bigint[], $2::int[], $3::text[]) AS u(id, attempt, result) "
        "WHERE j.id = u.id AND j.state = 'running' AND j.worker = $4 AND j.attempts = u.attempt "
        "RETURNING j.id",
        std::move(params));
  }
  size_t claim_at = 0;
  if (n > 0 && !limited) {
    claim_at = batch.Add(ClaimSql(queues.size() == 1, start_now < n),
                         ClaimParams(worker, now, now + config_.lease.count(), queues, n, start_now));
    batch.Add(ClaimBeatSql(), ClaimBeatParams(worker));
  }
  if (!limited) batch.Add("COMMIT");
  Result<std::vector<PgResult>> out = batch.empty() ? std::vector<PgResult>{} : pg_.Run(batch);
  if (!out.ok()) return out.status().Prefixed("claim");
  if (results) {
    results->clear();
    std::set<std::int64_t> succeeded;
    if (!ok_ids.empty()) {
      const PgResult& r = (*out)[ok_at];
      for (int i = 0; i < r.rows(); ++i) succeeded.insert(r.Int64(i, 0));
    }
    for (size_t i = 0; i < writes.done.size(); ++i) {
      const Completion& c = writes.done[i];
      CompletionResult cr{c.id, true, JobState::kRunning};
      if (c.kind == Completion::Kind::kSucceeded) {
        if (succeeded.count(c.id)) cr = {c.id, false, JobState::kSucceeded};
      } else if (const PgResult& r = (*out)[other_at[i]]; r.rows() == 1) {
        cr = {c.id, false, ParseJobState(r.Text(0, 0)).value_or(JobState::kQueued)};
      }
      results->push_back(cr);
    }
  }
  if (limited) {
    DROVER_RETURN_IF_ERROR(ClaimWithinLimits(worker, queues, n, start_now, now, &claimed));
    DROVER_RETURN_IF_ERROR(pg_.Exec(ClaimBeatSql(), ClaimBeatParams(worker)).status().Prefixed("claim"));
    DROVER_RETURN_IF_ERROR(tx->Commit().Prefixed("claim"));
  } else if (n > 0) {
    const PgResult& r = (*out)[claim_at];
    for (int i = 0; i < r.rows(); ++i) claimed.push_back(ReadClaimed(r, i));
  }
  // RETURNING gives no order guarantee; hand jobs out best first (the held ones last).
  std::sort(claimed.begin(), claimed.end(), [](const ClaimedJob& a, const ClaimedJob& b) {
    if (a.priority != b.priority) return a.priority > b.priority;
    if (a.run_at_ms != b.run_at_ms) return a.run_at_ms < b.run_at_ms;
    return a.id < b.id;
  });
  return claimed;
}

ClaimedJob PgJobStore::ReadClaimed(const PgResult& r, int row) {
  ClaimedJob j;
  j.id = r.Int64(row, 0);
  j.type = r.Text(row, 1);
  j.queue = r.Text(row, 2);
  j.payload = r.Text(row, 3);
  j.priority = static_cast<int>(r.Int64(row, 4));
  j.attempt = static_cast<int>(r.Int64(row, 5));
  j.max_attempts = static_cast<int>(r.Int64(row, 6));
  j.checkpoint = r.OptText(row, 7);
  j.run_at_ms = r.Int64(row, 8);
  j.enqueued_at_ms = r.Int64(row, 9);
  return j;
}

Result<int> PgJobStore::ExtendLeases(const std::string& worker) {
  PgParams p;
  p.Add(worker).Add(NowMs() + config_.lease.count());
  PgParams node;
  node.Add(worker);
  PgBatch batch;
  size_t leases =
      batch.Add("UPDATE jobs SET lease_until = $2 WHERE state = 'running' AND worker = $1", std::move(p));
  // The worker's node lives (worker ids are "NODE/NAME@PID").
  batch.Add("UPDATE nodes SET heartbeat = greatest(heartbeat, " + std::string(kServerNowMs) +
                ") WHERE name = split_part($1, '/', 1) AND stopped_at IS NULL",
            std::move(node));
  Result<std::vector<PgResult>> r = pg_.Run(batch);
  if (!r.ok()) return r.status().Prefixed("extend leases of " + worker);
  return (*r)[leases].affected();
}

Status PgJobStore::UpdateProgress(std::int64_t id, const std::string& worker, int attempt,
                                  std::optional<double> progress, std::optional<std::string> message,
                                  std::optional<std::string> checkpoint) {
  PgParams p;
  if (message) message = ValidUtf8(*message, true);
  p.Add(id).Add(worker).Add(attempt).Add(progress).Add(message).Add(checkpoint);
  Result<PgResult> r = pg_.Exec(
      "UPDATE jobs SET progress = coalesce($4::double precision, progress), "
      "  progress_message = coalesce($5::text, progress_message), "
      "  checkpoint = coalesce($6::json, checkpoint)" +
          std::string(kGuard),
      p);
  if (!r.ok()) return r.status().Prefixed("progress of job " + std::to_string(id));
  if (r->affected() == 1) return Status::Ok();
  return Status::Conflict("job " + std::to_string(id) + " is no longer run by " + worker);
}

Result<std::vector<std::pair<std::int64_t, int>>> PgJobStore::ClaimsOf(const std::string& worker) {
  PgParams p;
  p.Add(worker);
  Result<PgResult> r = pg_.Exec("SELECT id, attempts FROM jobs WHERE state = 'running' AND worker = $1", p);
  if (!r.ok()) return r.status().Prefixed("read the claims of " + worker);
  std::vector<std::pair<std::int64_t, int>> out;
  for (int i = 0; i < r->rows(); ++i) out.emplace_back(r->Int64(i, 0), static_cast<int>(r->Int64(i, 1)));
  return out;
}

Result<std::vector<std::int64_t>> PgJobStore::CancelRequested(const std::string& worker) {
  PgParams p;
  p.Add(worker);
  Result<PgResult> r =
      pg_.Exec("SELECT id FROM jobs WHERE state = 'running' AND worker = $1 AND cancel_requested", p);
  if (!r.ok()) return r.status();
  std::vector<std::int64_t> ids;
  for (int i = 0; i < r->rows(); ++i) ids.push_back(r->Int64(i, 0));
  return ids;
}

// What recovering a running job writes: $2 whether the attempt is spent (a crash), $4 now, and
// (SQL) the error it records as last_error and in the history. A held job that never started
// gets its attempt back and no history entry.
std::string PgJobStore::RecoverSet(const std::string& last_error, const std::string& history) {
  return "UPDATE jobs SET "
         "  state = CASE WHEN cancel_requested THEN 'cancelled' "
         "               WHEN $2::boolean AND started_at IS NOT NULL AND attempts >= max_attempts THEN "
         "'failed' "
         "               ELSE 'queued' END, "
         "  finished_at = CASE WHEN cancel_requested THEN $4::bigint "
         "                     WHEN $2::boolean AND started_at IS NOT NULL AND attempts >= max_attempts "
         "                     THEN $4::bigint END, "
         "  run_at = $4::bigint, "
         "  attempts = CASE WHEN $2::boolean AND started_at IS NOT NULL THEN attempts "
         "                  ELSE greatest(attempts - 1, 0) END, "
         "  last_error = CASE WHEN $2::boolean AND started_at IS NOT NULL THEN " +
         last_error +
         " ELSE last_error END, "
         "  errors = CASE WHEN started_at IS NULL THEN errors "
         "                ELSE errors || jsonb_build_array(jsonb_build_object('attempt', attempts, 'at', "
         "                     $4::bigint, 'worker', worker, 'error', " +
         history +
         ", 'interrupted', true)) END, "
         "  lease_until = NULL, pid = NULL ";
}

Result<std::vector<std::int64_t>> PgJobStore::Recover(const std::string& worker, bool spend_attempt,
                                                      const std::string& reason) {
  PgParams p;
  p.Add(worker).Add(spend_attempt).Add(reason).Add(NowMs());
  Result<PgResult> r = pg_.Exec(RecoverSet("$3::text", "$3::text") +
                                    "WHERE state = 'running' AND ($1::text = '' OR worker = $1::text "
                                    "  OR (right($1::text, 1) = '/' AND starts_with(worker, $1::text))) "
                                    "RETURNING id",
                                p);
  if (!r.ok()) return r.status().Prefixed("recover " + worker);
  return Ids(*r);
}

Result<std::vector<std::int64_t>> PgJobStore::ReapExpiredLeases(std::int64_t now_ms) {
  PgParams p;
  p.Add(now_ms).Add(true).Add("lease expired").Add(now_ms);
  Result<PgResult> r =
      pg_.Exec(RecoverSet("('lease expired: worker ' || worker || ' stopped renewing it')", "$3::text") +
                   "WHERE state = 'running' AND lease_until < $1::bigint RETURNING id",
               p);
  if (!r.ok()) return r.status().Prefixed("reap leases");
  return Ids(*r);
}

Result<std::vector<JobRef>> PgJobStore::ExpireJobs(std::int64_t now_ms) {
  PgParams p;
  p.Add(now_ms);
  Result<PgResult> r = pg_.Exec(
      "UPDATE jobs SET state = 'expired', finished_at = $1, last_error = 'expired before it could start' "
      "WHERE state = 'queued' AND expires_at IS NOT NULL AND expires_at <= $1 RETURNING id, queue, type",
      p);
  if (!r.ok()) return r.status().Prefixed("expire jobs");
  return JobRefs(*r);
}

}  // namespace drover
