// The SQLite implementation of JobStore: the only file with job SQL in it.
#include <algorithm>
#include <map>

#include <nlohmann/json.hpp>

#include "common/json_util.h"
#include "common/sqlite.h"
#include "common/time_util.h"
#include "jobs/job_store.h"
#include "jobs/schema.h"

namespace drover {
namespace {

constexpr size_t kMaxHistoryErrorBytes = 4096;

constexpr const char* kJobColumns =
    "id, type, queue, payload, state, priority, run_at, expires_at, attempts, max_attempts, "
    "unique_key, worker, pid, lease_until, enqueued_at, started_at, finished_at, result, "
    "last_error, errors, progress, progress_message, checkpoint, cancel_requested";

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

// Cuts `s` to at most `max` bytes without splitting a UTF-8 sequence.
std::string Truncated(const std::string& s, size_t max) {
  if (s.size() <= max) return s;
  size_t n = max;
  while (n > 0 && (static_cast<unsigned char>(s[n]) & 0xC0) == 0x80) --n;
  return s.substr(0, n) + "…[truncated]";
}

Status ValidateRequest(const EnqueueRequest& r) {
  if (r.type.empty()) return Status::InvalidArgument("job type must not be empty");
  if (r.queue.empty()) return Status::InvalidArgument("queue must not be empty");
  if (r.max_attempts < 1) {
    return Status::InvalidArgument("max_attempts must be at least 1 (got " + std::to_string(r.max_attempts) + ")");
  }
  if (r.payload.size() > kMaxPayloadBytes) {
    return Status::InvalidArgument("payload is " + std::to_string(r.payload.size()) + " bytes; the limit is " +
                                   std::to_string(kMaxPayloadBytes) + " (store large data elsewhere and pass a reference)");
  }
  return ValidateJson(r.payload, "payload");
}

class SqliteJobStore final : public JobStore {
 public:
  SqliteJobStore(SqliteDb db, StoreOptions options) : db_(std::move(db)), options_(options) {}

  Result<EnqueueResult> Enqueue(const EnqueueRequest& req) override {
    Result<std::vector<EnqueueResult>> r = EnqueueBatch(std::span<const EnqueueRequest>(&req, 1));
    if (!r.ok()) return r.status();
    return r->front();
  }

  Result<std::vector<EnqueueResult>> EnqueueBatch(std::span<const EnqueueRequest> reqs) override {
    for (const EnqueueRequest& r : reqs) DROVER_RETURN_IF_ERROR(ValidateRequest(r).Prefixed("enqueue " + r.type));
    Result<Transaction> tx = Transaction::Begin(&db_);
    if (!tx.ok()) return tx.status().Prefixed("enqueue");
    Result<std::vector<EnqueueResult>> out = InsertJobs(reqs);
    if (!out.ok()) return out.status();
    DROVER_RETURN_IF_ERROR(tx->Commit().Prefixed("enqueue"));
    return out;
  }

  Result<std::vector<ClaimedJob>> CompleteAndClaim(const std::string& worker, std::span<const Completion> done,
                                                   std::vector<CompletionResult>* results,
                                                   const std::vector<std::string>& queues, int n) override {
    std::vector<ClaimedJob> claimed;
    if (done.empty() && (n <= 0 || queues.empty())) return claimed;
    std::int64_t now = NowMs();
    // A claimer that found too little last time is probably idle: it looks before taking the
    // write lock, so idle workers do not queue up behind busy ones. A busy one goes straight in.
    bool look_first = done.empty() && last_claim_short_;
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
    for (const Completion& c : done) {
      Result<CompletionResult> r = Finish(worker, c, now);
      if (!r.ok()) return r.status().Prefixed("finish job " + std::to_string(c.id));
      if (results) results->push_back(*r);
    }
    if (n > 0) {
      Result<Statement> st = db_.Prepare(ClaimSql(active.size()));
      if (!st.ok()) return st.status();
      st->Bind(1, worker).Bind(2, now).Bind(3, now + options_.lease.count()).Bind(4, n);
      for (size_t i = 0; i < active.size(); ++i) st->Bind(static_cast<int>(5 + i), active[i]);
      while (true) {
        Result<bool> row = st->Step();
        if (!row.ok()) return row.status().Prefixed("claim");
        if (!*row) break;
        ClaimedJob j;
        j.id = st->Int64(0);
        j.type = st->Text(1);
        j.queue = st->Text(2);
        j.payload = st->Text(3);
        j.priority = static_cast<int>(st->Int64(4));
        j.attempt = static_cast<int>(st->Int64(5));
        j.max_attempts = static_cast<int>(st->Int64(6));
        j.checkpoint = st->OptText(7);
        j.run_at_ms = st->Int64(8);
        j.enqueued_at_ms = st->Int64(9);
        claimed.push_back(std::move(j));
      }
    }
    DROVER_RETURN_IF_ERROR(tx->Commit().Prefixed("claim"));
    if (n > 0) last_claim_short_ = static_cast<int>(claimed.size()) < n;
    // RETURNING gives no order guarantee; hand jobs out best first.
    std::sort(claimed.begin(), claimed.end(), [](const ClaimedJob& a, const ClaimedJob& b) {
      if (a.priority != b.priority) return a.priority > b.priority;
      if (a.run_at_ms != b.run_at_ms) return a.run_at_ms < b.run_at_ms;
      return a.id < b.id;
    });
    return claimed;
  }

  Result<int> ExtendLeases(const std::string& worker) override {
    Result<Statement> st = db_.Prepare(
        "UPDATE jobs SET lease_until = ?2 WHERE state = 'running' AND worker = ?1");
    if (!st.ok()) return st.status();
    st->Bind(1, worker).Bind(2, NowMs() + options_.lease.count());
    DROVER_RETURN_IF_ERROR(st->Run().Prefixed("extend leases of " + worker));
    return db_.Changes();
  }

  Status SetPid(std::int64_t id, const std::string& worker, int attempt, std::int64_t pid) override {
    Result<Statement> st = db_.Prepare(
        "UPDATE jobs SET pid = ?4 WHERE id = ?1 AND state = 'running' AND worker = ?2 AND attempts = ?3");
    if (!st.ok()) return st.status();
    st->Bind(1, id).Bind(2, worker).Bind(3, attempt).Bind(4, pid);
    DROVER_RETURN_IF_ERROR(st->Run().Prefixed("job " + std::to_string(id)));
    return db_.Changes() == 1 ? Status::Ok() : Stale(id, worker);
  }

  Status UpdateProgress(std::int64_t id, const std::string& worker, int attempt, std::optional<double> progress,
                        std::optional<std::string> message, std::optional<std::string> checkpoint) override {
    Result<Statement> st = db_.Prepare(
        "UPDATE jobs SET progress = coalesce(?4, progress), progress_message = coalesce(?5, progress_message), "
        "checkpoint = coalesce(?6, checkpoint) "
        "WHERE id = ?1 AND state = 'running' AND worker = ?2 AND attempts = ?3");
    if (!st.ok()) return st.status();
    st->Bind(1, id).Bind(2, worker).Bind(3, attempt).Bind(4, progress).Bind(5, message).Bind(6, checkpoint);
    DROVER_RETURN_IF_ERROR(st->Run().Prefixed("progress of job " + std::to_string(id)));
    return db_.Changes() == 1 ? Status::Ok() : Stale(id, worker);
  }

  Result<std::vector<std::int64_t>> CancelRequested(const std::string& worker) override {
    Result<Statement> st = db_.Prepare(
        "SELECT id FROM jobs WHERE state = 'running' AND worker = ?1 AND cancel_requested = 1");
    if (!st.ok()) return st.status();
    st->Bind(1, worker);
    return Ids(*st);
  }

  Result<std::vector<std::int64_t>> Recover(const std::string& worker, bool spend_attempt,
                                            const std::string& reason) override {
    Result<Transaction> tx = Transaction::Begin(&db_);
    if (!tx.ok()) return tx.status().Prefixed("recover");
    Result<Statement> st = db_.Prepare(
        "UPDATE jobs SET "
        "  state = CASE WHEN cancel_requested = 1 THEN 'cancelled' "
        "               WHEN ?2 = 1 AND attempts >= max_attempts THEN 'failed' ELSE 'queued' END, "
        "  finished_at = CASE WHEN cancel_requested = 1 OR (?2 = 1 AND attempts >= max_attempts) "
        "                     THEN ?4 END, "
        "  run_at = ?4, attempts = CASE WHEN ?2 = 1 THEN attempts ELSE max(attempts - 1, 0) END, "
        "  last_error = CASE WHEN ?2 = 1 THEN ?3 ELSE last_error END, "
        "  errors = json_insert(errors, '$[#]', json_object('attempt', attempts, 'at', ?4, "
        "           'worker', worker, 'error', ?3, 'interrupted', json('true'))), "
        "  lease_until = NULL, pid = NULL "
        "WHERE state = 'running' AND (?1 = '' OR worker = ?1) RETURNING id");
    if (!st.ok()) return st.status();
    st->Bind(1, worker).Bind(2, spend_attempt ? 1 : 0).Bind(3, reason).Bind(4, NowMs());
    Result<std::vector<std::int64_t>> ids = Ids(*st);
    if (!ids.ok()) return ids.status().Prefixed("recover " + worker);
    DROVER_RETURN_IF_ERROR(tx->Commit().Prefixed("recover"));
    return ids;
  }

  Result<std::vector<std::int64_t>> ReapExpiredLeases(std::int64_t now_ms) override {
    Result<Transaction> tx = Transaction::Begin(&db_);
    if (!tx.ok()) return tx.status().Prefixed("reap leases");
    Result<Statement> st = db_.Prepare(
        "UPDATE jobs SET "
        "  state = CASE WHEN cancel_requested = 1 THEN 'cancelled' "
        "               WHEN attempts >= max_attempts THEN 'failed' ELSE 'queued' END, "
        "  finished_at = CASE WHEN cancel_requested = 1 OR attempts >= max_attempts THEN ?1 END, "
        "  run_at = ?1, last_error = 'lease expired: worker ' || worker || ' stopped renewing it', "
        "  errors = json_insert(errors, '$[#]', json_object('attempt', attempts, 'at', ?1, "
        "           'worker', worker, 'error', 'lease expired', 'interrupted', json('true'))), "
        "  lease_until = NULL, pid = NULL "
        "WHERE state = 'running' AND lease_until < ?1 RETURNING id");
    if (!st.ok()) return st.status();
    st->Bind(1, now_ms);
    Result<std::vector<std::int64_t>> ids = Ids(*st);
    if (!ids.ok()) return ids.status().Prefixed("reap leases");
    DROVER_RETURN_IF_ERROR(tx->Commit().Prefixed("reap leases"));
    return ids;
  }

  Result<int> ExpireJobs(std::int64_t now_ms) override {
    Result<Statement> st = db_.Prepare(
        "UPDATE jobs SET state = 'expired', finished_at = ?1, "
        "  last_error = 'expired before it could start' "
        "WHERE state = 'queued' AND expires_at IS NOT NULL AND expires_at <= ?1");
    if (!st.ok()) return st.status();
    st->Bind(1, now_ms);
    DROVER_RETURN_IF_ERROR(st->Run().Prefixed("expire jobs"));
    return db_.Changes();
  }

  Result<JobState> Cancel(std::int64_t id) override {
    Result<Transaction> tx = Transaction::Begin(&db_);
    if (!tx.ok()) return tx.status().Prefixed("cancel job " + std::to_string(id));
    Result<JobState> state = StateOf(id);
    if (!state.ok()) return state.status();
    std::int64_t now = NowMs();
    if (*state == JobState::kQueued) {
      Result<Statement> st = db_.Prepare(
          "UPDATE jobs SET state = 'cancelled', finished_at = ?2, last_error = 'cancelled' WHERE id = ?1");
      if (!st.ok()) return st.status();
      st->Bind(1, id).Bind(2, now);
      DROVER_RETURN_IF_ERROR(st->Run());
    } else if (*state == JobState::kRunning) {
      Result<Statement> st = db_.Prepare("UPDATE jobs SET cancel_requested = 1 WHERE id = ?1");
      if (!st.ok()) return st.status();
      st->Bind(1, id);
      DROVER_RETURN_IF_ERROR(st->Run());
    } else {
      return Status::Conflict("job " + std::to_string(id) + " is already " + std::string(JobStateName(*state)));
    }
    DROVER_RETURN_IF_ERROR(tx->Commit().Prefixed("cancel job " + std::to_string(id)));
    return *state == JobState::kQueued ? JobState::kCancelled : JobState::kRunning;
  }

  Status Retry(std::int64_t id) override {
    Result<Transaction> tx = Transaction::Begin(&db_);
    if (!tx.ok()) return tx.status().Prefixed("retry job " + std::to_string(id));
    Result<JobState> state = StateOf(id);
    if (!state.ok()) return state.status();
    if (*state != JobState::kFailed && *state != JobState::kCancelled && *state != JobState::kExpired) {
      return Status::Conflict("job " + std::to_string(id) + " is " + std::string(JobStateName(*state)) +
                              "; only failed, cancelled or expired jobs can be retried");
    }
    Result<Statement> st = db_.Prepare(
        "UPDATE jobs SET state = 'queued', run_at = ?2, attempts = 0, finished_at = NULL, "
        "  expires_at = NULL, cancel_requested = 0, lease_until = NULL, pid = NULL WHERE id = ?1");
    if (!st.ok()) return st.status();
    st->Bind(1, id).Bind(2, NowMs());
    Status s = st->Run();
    if (s.IsConflict()) {
      return Status::Conflict("job " + std::to_string(id) +
                              ": another queued or running job holds its unique key");
    }
    DROVER_RETURN_IF_ERROR(s);
    return tx->Commit().Prefixed("retry job " + std::to_string(id));
  }

  Status Delete(std::int64_t id) override {
    Result<Statement> st = db_.Prepare("DELETE FROM jobs WHERE id = ?1 AND state != 'running'");
    if (!st.ok()) return st.status();
    st->Bind(1, id);
    DROVER_RETURN_IF_ERROR(st->Run().Prefixed("delete job " + std::to_string(id)));
    if (db_.Changes() == 1) return Status::Ok();
    Result<JobState> state = StateOf(id);
    if (!state.ok()) return state.status();
    return Status::Conflict("job " + std::to_string(id) + " is running; cancel it first");
  }

  Result<int> Prune(JobState state, std::int64_t before_ms, int batch) override {
    if (!IsFinal(state)) return Status::InvalidArgument("only finished jobs can be pruned");
    Result<Statement> st = db_.Prepare(
        "DELETE FROM jobs WHERE id IN (SELECT id FROM jobs WHERE state = ?1 AND finished_at IS NOT NULL "
        "AND finished_at < ?2 LIMIT ?3)");
    if (!st.ok()) return st.status();
    st->Bind(1, JobStateName(state)).Bind(2, before_ms).Bind(3, batch);
    DROVER_RETURN_IF_ERROR(st->Run().Prefixed("prune"));
    return db_.Changes();
  }

  Status SetQueuePaused(const std::string& queue, bool paused) override {
    Result<Statement> st = db_.Prepare(
        "INSERT INTO queues (name, paused) VALUES (?1, ?2) "
        "ON CONFLICT (name) DO UPDATE SET paused = excluded.paused");
    if (!st.ok()) return st.status();
    st->Bind(1, queue).Bind(2, paused ? 1 : 0);
    return st->Run().Prefixed(std::string(paused ? "pause" : "resume") + " queue " + queue);
  }

  Result<std::vector<std::string>> PausedQueues() override {
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

  Status SyncSchedules(std::span<const ScheduleSeed> wanted) override {
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
    Result<Statement> del = db_.Prepare("DELETE FROM schedules WHERE name NOT IN (SELECT value FROM json_each(?1))");
    if (!del.ok()) return del.status();
    del->Bind(1, names.dump());
    DROVER_RETURN_IF_ERROR(del->Run().Prefixed("store schedules"));
    return tx->Commit().Prefixed("store schedules");
  }

  Result<std::vector<ScheduleState>> Schedules() override {
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

  Result<std::vector<EnqueueResult>> AdvanceSchedule(const std::string& name, std::int64_t expected_next_ms,
                                                     std::int64_t next_run_ms, std::span<const EnqueueRequest> runs,
                                                     std::int64_t last_run_ms) override {
    const std::string what = "schedule " + name;
    for (const EnqueueRequest& r : runs) DROVER_RETURN_IF_ERROR(ValidateRequest(r).Prefixed(what));
    Result<Transaction> tx = Transaction::Begin(&db_);
    if (!tx.ok()) return tx.status().Prefixed(what);
    Result<Statement> move = db_.Prepare("UPDATE schedules SET next_run = ?3 WHERE name = ?1 AND next_run = ?2");
    if (!move.ok()) return move.status();
    move->Bind(1, name).Bind(2, expected_next_ms).Bind(3, next_run_ms);
    DROVER_RETURN_IF_ERROR(move->Run().Prefixed(what));
    if (db_.Changes() != 1) return Status::Conflict(what + ": this time slot was handled already");
    Result<std::vector<EnqueueResult>> out = InsertJobs(runs);
    if (!out.ok()) return out.status().Prefixed(what);
    if (!out->empty()) DROVER_RETURN_IF_ERROR(RecordScheduleRun(name, last_run_ms, out->back().id));
    DROVER_RETURN_IF_ERROR(tx->Commit().Prefixed(what));
    return out;
  }

  Result<EnqueueResult> TriggerSchedule(const std::string& name, const EnqueueRequest& run) override {
    const std::string what = "trigger schedule " + name;
    DROVER_RETURN_IF_ERROR(ValidateRequest(run).Prefixed(what));
    Result<Transaction> tx = Transaction::Begin(&db_);
    if (!tx.ok()) return tx.status().Prefixed(what);
    Result<std::vector<EnqueueResult>> out = InsertJobs(std::span<const EnqueueRequest>(&run, 1));
    if (!out.ok()) return out.status().Prefixed(what);
    DROVER_RETURN_IF_ERROR(RecordScheduleRun(name, NowMs(), out->front().id));
    if (db_.Changes() != 1) return Status::NotFound("no schedule " + name + " is stored (is droverd running with it?)");
    DROVER_RETURN_IF_ERROR(tx->Commit().Prefixed(what));
    return out->front();
  }

  Status SetSchedulePaused(const std::string& name, bool paused) override {
    Result<Statement> st = db_.Prepare("UPDATE schedules SET paused = ?2 WHERE name = ?1");
    if (!st.ok()) return st.status();
    st->Bind(1, name).Bind(2, paused ? 1 : 0);
    DROVER_RETURN_IF_ERROR(st->Run().Prefixed(std::string(paused ? "pause" : "resume") + " schedule " + name));
    if (db_.Changes() != 1) return Status::NotFound("no schedule " + name + " is stored (is droverd running with it?)");
    return Status::Ok();
  }

  Result<Job> Get(std::int64_t id) override {
    Result<Statement> st = db_.Prepare(std::string("SELECT ") + kJobColumns + " FROM jobs WHERE id = ?1");
    if (!st.ok()) return st.status();
    st->Bind(1, id);
    Result<bool> row = st->Step();
    if (!row.ok()) return row.status();
    if (!*row) return Status::NotFound("no job " + std::to_string(id));
    return ReadJob(*st);
  }

  Result<std::vector<Job>> List(const JobFilter& f) override {
    Result<Statement> st = db_.Prepare(
        std::string("SELECT ") + kJobColumns +
        " FROM jobs WHERE (?1 IS NULL OR state = ?1) AND (?2 IS NULL OR type = ?2) "
        "AND (?3 IS NULL OR queue = ?3) ORDER BY id DESC LIMIT ?4");
    if (!st.ok()) return st.status();
    std::optional<std::string> state;
    if (f.state) state = std::string(JobStateName(*f.state));
    st->Bind(1, state).Bind(2, f.type).Bind(3, f.queue).Bind(4, f.limit);
    return ReadJobs(*st);
  }

  Result<std::vector<Job>> RunningSince(std::int64_t started_before_ms) override {
    // Walks the small partial index of running jobs, not the table: the scheduler asks every tick.
    Result<Statement> st = db_.Prepare(std::string("SELECT ") + kJobColumns +
                                       " FROM jobs WHERE state = 'running' AND started_at < ?1");
    if (!st.ok()) return st.status();
    st->Bind(1, started_before_ms);
    Result<std::vector<Job>> jobs = ReadJobs(*st);
    if (!jobs.ok()) return jobs.status().Prefixed("read running jobs");
    return jobs;
  }

  Result<std::vector<QueueStats>> Stats() override {
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

  Result<std::optional<std::int64_t>> NextRunAt() override {
    Result<Statement> st = db_.Prepare("SELECT min(run_at) FROM jobs WHERE state = 'queued'");
    if (!st.ok()) return st.status();
    Result<bool> row = st->Step();
    if (!row.ok()) return row.status();
    return st->OptInt64(0);
  }

  Result<std::int64_t> DataVersion() override { return db_.PragmaInt("data_version"); }

  Status Checkpoint(bool truncate) override {
    int rc = sqlite3_wal_checkpoint_v2(db_.handle(), nullptr,
                                       truncate ? SQLITE_CHECKPOINT_TRUNCATE : SQLITE_CHECKPOINT_PASSIVE,
                                       nullptr, nullptr);
    if (rc == SQLITE_OK || (rc & 0xff) == SQLITE_BUSY) return Status::Ok();
    return SqliteStatus(db_.handle(), rc, "checkpoint");
  }

 private:
  // Inserts jobs inside the caller's transaction (see Enqueue for unique keys).
  Result<std::vector<EnqueueResult>> InsertJobs(std::span<const EnqueueRequest> reqs) {
    std::vector<EnqueueResult> out;
    out.reserve(reqs.size());
    std::int64_t now = NowMs();
    for (const EnqueueRequest& r : reqs) {
      Result<Statement> ins = db_.Prepare(
          "INSERT INTO jobs (type, queue, payload, priority, run_at, expires_at, max_attempts, "
          "unique_key, enqueued_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9) "
          "ON CONFLICT DO NOTHING");
      if (!ins.ok()) return ins.status();
      ins->Bind(1, r.type).Bind(2, r.queue).Bind(3, r.payload).Bind(4, r.priority)
          .Bind(5, r.run_at_ms.value_or(now)).Bind(6, r.expires_at_ms).Bind(7, r.max_attempts)
          .Bind(8, r.unique_key).Bind(9, now);
      DROVER_RETURN_IF_ERROR(ins->Run().Prefixed("enqueue " + r.type));
      if (db_.Changes() == 1) {
        out.push_back({db_.LastInsertRowid(), JobState::kQueued, false});
        continue;
      }
      Result<Statement> existing = db_.Prepare(
          "SELECT id, state FROM jobs WHERE type = ?2 AND unique_key = ?1 AND state IN ('queued', 'running')");
      if (!existing.ok()) return existing.status();
      existing->Bind(1, r.unique_key.value_or("")).Bind(2, r.type);
      Result<bool> row = existing->Step();
      if (!row.ok()) return row.status();
      if (!*row) return Status::Internal("enqueue " + r.type + ": insert ignored but no job holds its unique key");
      out.push_back({existing->Int64(0), *ParseJobState(existing->Text(1)), true});
    }
    return out;
  }

  Status RecordScheduleRun(const std::string& name, std::int64_t slot_ms, std::int64_t job_id) {
    Result<Statement> st = db_.Prepare("UPDATE schedules SET last_run = ?2, last_job_id = ?3 WHERE name = ?1");
    if (!st.ok()) return st.status();
    st->Bind(1, name).Bind(2, slot_ms).Bind(3, job_id);
    return st->Run().Prefixed("schedule " + name);
  }

  Result<int> ReleaseFreePages(int max_pages) override {
    Result<std::int64_t> free_pages = db_.PragmaInt("freelist_count");
    if (!free_pages.ok()) return free_pages.status();
    Result<std::int64_t> pages = db_.PragmaInt("page_count");
    if (!pages.ok()) return pages.status();
    if (*free_pages == 0 || *free_pages * 4 < *pages) return 0;
    DROVER_RETURN_IF_ERROR(
        db_.Exec("PRAGMA incremental_vacuum(" + std::to_string(max_pages) + ")").Prefixed("release free pages"));
    Result<std::int64_t> after = db_.PragmaInt("freelist_count");
    if (!after.ok()) return after.status();
    return static_cast<int>(*free_pages - *after);
  }

  static std::string ClaimSql(size_t nqueues) {
    std::string in;
    for (size_t i = 0; i < nqueues; ++i) in += (i ? ", ?" : "?") + std::to_string(5 + i);
    return "UPDATE jobs SET state = 'running', worker = ?1, attempts = attempts + 1, started_at = ?2, "
           "  lease_until = ?3, pid = NULL, progress = NULL, progress_message = NULL "
           "WHERE id IN (SELECT id FROM jobs WHERE state = 'queued' AND queue IN (" + in + ") "
           "  AND run_at <= ?2 AND (expires_at IS NULL OR expires_at > ?2) "
           "  ORDER BY priority DESC, run_at, id LIMIT ?4) "
           "RETURNING id, type, queue, payload, priority, attempts, max_attempts, checkpoint, run_at, enqueued_at";
  }

  // `queues` without the paused ones. An idle claimer reads them before its transaction: a
  // pause is advisory, and a claim racing it by microseconds is no different from one just before.
  Result<std::vector<std::string>> ActiveQueues(const std::vector<std::string>& queues) {
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

  Result<bool> AnyReady(const std::vector<std::string>& queues, std::int64_t now) {
    std::string in;
    for (size_t i = 0; i < queues.size(); ++i) in += (i ? ", ?" : "?") + std::to_string(2 + i);
    Result<Statement> st = db_.Prepare(
        "SELECT 1 FROM jobs WHERE state = 'queued' AND queue IN (" + in + ") AND run_at <= ?1 LIMIT 1");
    if (!st.ok()) return st.status();
    st->Bind(1, now);
    for (size_t i = 0; i < queues.size(); ++i) st->Bind(static_cast<int>(2 + i), queues[i]);
    return st->Step();
  }

  Result<CompletionResult> Finish(const std::string& worker, const Completion& c, std::int64_t now) {
    using Kind = Completion::Kind;
    Result<Statement> st = [&]() -> Result<Statement> {
      switch (c.kind) {
        case Kind::kSucceeded:  // the new state is known: no RETURNING on the hot path
          return db_.Prepare(
              "UPDATE jobs SET state = 'succeeded', finished_at = ?4, result = ?5, lease_until = NULL, "
              "  progress = 1.0 "
              "WHERE id = ?1 AND state = 'running' AND worker = ?2 AND attempts = ?3");
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
      st->Bind(6, c.kind == Kind::kFailedPermanent ? 1 : 0).Bind(7, c.retry_delay_ms)
          .Bind(8, Truncated(c.output, kMaxHistoryErrorBytes));
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

  Result<JobState> StateOf(std::int64_t id) {
    Result<Statement> st = db_.Prepare("SELECT state FROM jobs WHERE id = ?1");
    if (!st.ok()) return st.status();
    st->Bind(1, id);
    Result<bool> row = st->Step();
    if (!row.ok()) return row.status();
    if (!*row) return Status::NotFound("no job " + std::to_string(id));
    return ParseJobState(st->Text(0)).value_or(JobState::kQueued);
  }

  static Result<std::vector<std::int64_t>> Ids(Statement& st) {
    std::vector<std::int64_t> out;
    while (true) {
      Result<bool> row = st.Step();
      if (!row.ok()) return row.status();
      if (!*row) return out;
      out.push_back(st.Int64(0));
    }
  }

  static Status Stale(std::int64_t id, const std::string& worker) {
    return Status::Conflict("job " + std::to_string(id) + " is no longer run by " + worker);
  }

  SqliteDb db_;
  StoreOptions options_;
  bool last_claim_short_ = true;
};

}  // namespace

int CurrentSchemaVersion() { return LatestSchemaVersion(); }

Result<std::unique_ptr<JobStore>> OpenSqliteJobStore(const std::string& path, const StoreOptions& options) {
  SqliteOptions so;
  so.synchronous_full = options.synchronous_full;
  so.busy_timeout_ms = options.busy_timeout_ms;
  so.wal_autocheckpoint = options.background_checkpoints ? 10000 : 1000;
  so.read_only = options.read_only;
  Result<SqliteDb> db = SqliteDb::Open(path, so);
  if (!db.ok()) return db.status();
  if (options.read_only) {
    Result<std::int64_t> v = db->PragmaInt("user_version");
    if (!v.ok()) return v.status().Prefixed("open database " + path);
    if (*v != LatestSchemaVersion()) {
      return Status::Unsupported("database " + path + " has schema version " + std::to_string(*v) + ", expected " +
                                 std::to_string(LatestSchemaVersion()));
    }
  } else {
    DROVER_RETURN_IF_ERROR(MigrateSchema(&*db));
  }
  DROVER_RETURN_IF_ERROR(CheckNoForeignTriggers(&*db));
  return std::unique_ptr<JobStore>(new SqliteJobStore(std::move(db).value(), options));
}

}  // namespace drover
