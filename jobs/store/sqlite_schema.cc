#include "jobs/store/sqlite_schema.h"

#include <algorithm>
#include <iterator>
#include <string>

namespace drover {
namespace {

// Times are integer milliseconds since the Unix epoch (UTC). The defaults let an application
// enqueue with a plain INSERT naming only `type` (and usually `payload` and `queue`).
constexpr const char* kNowMs = "(CAST((julianday('now') - 2440587.5) * 86400000.0 AS INTEGER))";

std::string V1() {
  return std::string(R"sql(
CREATE TABLE jobs (
  id               INTEGER PRIMARY KEY AUTOINCREMENT,
  type             TEXT    NOT NULL CHECK (length(type) > 0),
  queue            TEXT    NOT NULL DEFAULT 'default',
  payload          TEXT    NOT NULL DEFAULT '{}' CHECK (json_valid(payload)),
  state            TEXT    NOT NULL DEFAULT 'queued'
                   CHECK (state IN ('queued','running','succeeded','failed','cancelled','expired')),
  priority         INTEGER NOT NULL DEFAULT 0,
  run_at           INTEGER NOT NULL DEFAULT )sql") +
         kNowMs + R"sql(,
  expires_at       INTEGER,
  attempts         INTEGER NOT NULL DEFAULT 0,
  max_attempts     INTEGER NOT NULL DEFAULT 5 CHECK (max_attempts >= 1),
  unique_key       TEXT,
  worker           TEXT,
  pid              INTEGER,
  lease_until      INTEGER,
  enqueued_at      INTEGER NOT NULL DEFAULT )sql" +
         kNowMs + R"sql(,
  started_at       INTEGER,
  finished_at      INTEGER,
  result           TEXT,
  last_error       TEXT,
  errors           TEXT    NOT NULL DEFAULT '[]',
  progress         REAL,
  progress_message TEXT,
  checkpoint       TEXT,
  cancel_requested INTEGER NOT NULL DEFAULT 0
);
-- Claims walk this index in order and stop after LIMIT rows.
CREATE INDEX jobs_ready ON jobs (queue, priority DESC, run_at, id) WHERE state = 'queued';
-- When the next delayed job becomes due.
CREATE INDEX jobs_due ON jobs (run_at) WHERE state = 'queued';
CREATE UNIQUE INDEX jobs_unique ON jobs (unique_key)
  WHERE unique_key IS NOT NULL AND state IN ('queued', 'running');
CREATE INDEX jobs_running ON jobs (worker) WHERE state = 'running';
CREATE INDEX jobs_expiring ON jobs (expires_at) WHERE state = 'queued' AND expires_at IS NOT NULL;
CREATE INDEX jobs_finished ON jobs (state, finished_at) WHERE finished_at IS NOT NULL;
CREATE INDEX jobs_type ON jobs (type, id);

CREATE TABLE queues (
  name   TEXT PRIMARY KEY,
  paused INTEGER NOT NULL DEFAULT 0
) WITHOUT ROWID;
)sql";
}

// Periodic schedules: when each runs next and what its last run was. Handling a slot moves
// next_run in the same transaction that enqueues the run, so no restart can double or skip it.
std::string V2() {
  return R"sql(
CREATE TABLE schedules (
  name        TEXT    PRIMARY KEY,
  spec        TEXT    NOT NULL,
  next_run    INTEGER NOT NULL,
  last_run    INTEGER,
  last_job_id INTEGER,
  paused      INTEGER NOT NULL DEFAULT 0
) WITHOUT ROWID;
)sql";
}

// Unique keys are scoped by job type, so an enqueuer cannot block another type's jobs (a
// schedule's runs among them) by holding their key. The size limits the API enforces hold for
// plain SQL too: through triggers rather than CHECK constraints, which SQLite adds only by
// rebuilding the table (a long write lock on a large queue during an upgrade).
std::string V3() {
  return R"sql(
DROP INDEX jobs_unique;
CREATE UNIQUE INDEX jobs_unique ON jobs (type, unique_key)
  WHERE unique_key IS NOT NULL AND state IN ('queued', 'running');
CREATE TRIGGER drover_jobs_limits_insert BEFORE INSERT ON jobs
  WHEN length(CAST(NEW.payload AS BLOB)) > 1048576 OR length(CAST(NEW.checkpoint AS BLOB)) > 65536
  BEGIN SELECT RAISE(ABORT, 'drover: a payload is limited to 1 MiB, a checkpoint to 64 KiB'); END;
CREATE TRIGGER drover_jobs_limits_update BEFORE UPDATE OF payload, checkpoint ON jobs
  WHEN length(CAST(NEW.payload AS BLOB)) > 1048576 OR length(CAST(NEW.checkpoint AS BLOB)) > 65536
  BEGIN SELECT RAISE(ABORT, 'drover: a payload is limited to 1 MiB, a checkpoint to 64 KiB'); END;
)sql";
}

// What a row must be when plain SQL writes it: inserted queued (a row inserted as running has
// no worker and no lease, and would sit there for good), with an integer priority (claims order
// by it). Rows an older schema let through get priority 0 (a text "5" becomes 5).
std::string V4() {
  return R"sql(
UPDATE jobs SET priority = CASE WHEN CAST(priority AS INTEGER) = priority THEN CAST(priority AS INTEGER) ELSE 0 END
  WHERE typeof(priority) != 'integer';
CREATE TRIGGER drover_jobs_checks_insert BEFORE INSERT ON jobs
  WHEN typeof(NEW.priority) != 'integer' OR NEW.state != 'queued'
  BEGIN SELECT RAISE(ABORT, 'drover: a job is inserted queued, with an integer priority'); END;
CREATE TRIGGER drover_jobs_checks_update BEFORE UPDATE OF priority ON jobs
  WHEN typeof(NEW.priority) != 'integer'
  BEGIN SELECT RAISE(ABORT, 'drover: a job''s priority is an integer'); END;
)sql";
}

struct Migration {
  int version;
  std::string (*sql)();
};

// Version 5: a resource id on every job (what it concerns: filters and per-resource limits).
std::string V5() {
  return R"sql(
ALTER TABLE jobs ADD COLUMN resource TEXT
  CHECK (resource IS NULL OR length(CAST(resource AS BLOB)) BETWEEN 1 AND 1024);
CREATE INDEX jobs_resource ON jobs (resource, id) WHERE resource IS NOT NULL;
)sql";
}

// Version 6: the configured job types and their defaults for enqueued jobs, kept by the
// scheduler from [jobs.T], so enqueuers that cannot read the configuration (the Python client,
// plain SQL) enqueue as droverctl does: INSERT INTO jobs (...) SELECT ... FROM job_types.
std::string V6() {
  return R"sql(
CREATE TABLE job_types (
  type         TEXT    PRIMARY KEY,
  queue        TEXT    NOT NULL,
  priority     INTEGER NOT NULL,
  max_attempts INTEGER NOT NULL,
  is_unique    INTEGER NOT NULL
) WITHOUT ROWID;
)sql";
}

constexpr Migration kMigrations[] = {{1, V1}, {2, V2}, {3, V3}, {4, V4}, {5, V5}, {6, V6}};

// The triggers drover creates on its tables; any other there would run inside drover's own
// transactions. An application's tables, views and triggers beside them are its own business.
constexpr const char* kOwnTriggers[] = {"drover_jobs_limits_insert", "drover_jobs_limits_update",
                                        "drover_jobs_checks_insert", "drover_jobs_checks_update"};

}  // namespace

int LatestSchemaVersion() { return kMigrations[std::size(kMigrations) - 1].version; }

Status CheckNoForeignTriggers(SqliteDb* db) {
  Result<Statement> st = db->Prepare(
      "SELECT name, tbl_name FROM sqlite_master WHERE type = 'trigger' "
      "AND tbl_name IN ('jobs', 'queues', 'schedules', 'job_types')");
  if (!st.ok()) return st.status().Prefixed("read " + db->path());
  while (true) {
    Result<bool> row = st->Step();
    if (!row.ok()) return row.status().Prefixed("read " + db->path());
    if (!*row) return Status::Ok();
    std::string name = st->Text(0);
    if (std::find(std::begin(kOwnTriggers), std::end(kOwnTriggers), name) != std::end(kOwnTriggers)) continue;
    return Status::Corruption("database " + db->path() + " holds trigger \"" + name + "\" on table " +
                              st->Text(1) +
                              ", which drover did not create and which would run inside its transactions; "
                              "drop it (DROP TRIGGER " +
                              name + ")");
  }
}

Status MigrateSchema(SqliteDb* db) {
  Result<std::int64_t> version = db->PragmaInt("user_version");
  if (!version.ok()) return version.status().Prefixed("read schema version of " + db->path());
  if (*version > LatestSchemaVersion()) {
    return Status::Unsupported("database " + db->path() + " has schema version " + std::to_string(*version) +
                               ", newer than this drover understands (" +
                               std::to_string(LatestSchemaVersion()) + "); upgrade drover");
  }
  if (*version == LatestSchemaVersion()) return Status::Ok();
  Result<Statement> tables = db->Prepare("SELECT count(*) FROM sqlite_master");
  if (!tables.ok()) return tables.status().Prefixed("read " + db->path());
  Result<bool> row = tables->Step();
  if (!row.ok()) return row.status().Prefixed("read " + db->path());
  const bool empty = *row && tables->Int64(0) == 0;
  tables->Reset();
  if (empty) {
    // A new file: incremental auto-vacuum lets the scheduler hand pages freed by pruning back to
    // the file system. The mode only changes through a VACUUM, which costs nothing while empty.
    DROVER_RETURN_IF_ERROR(
        db->Exec("PRAGMA auto_vacuum=INCREMENTAL; VACUUM").Prefixed("create " + db->path()));
  }
  for (const Migration& m : kMigrations) {
    Result<Transaction> tx = Transaction::Begin(db);
    if (!tx.ok()) return tx.status().Prefixed("migrate " + db->path());
    // Re-read inside the write lock: another process may have migrated meanwhile.
    Result<std::int64_t> now = db->PragmaInt("user_version");
    if (!now.ok()) return now.status();
    if (*now >= m.version) continue;
    DROVER_RETURN_IF_ERROR(
        db->Exec(m.sql()).Prefixed("migrate " + db->path() + " to version " + std::to_string(m.version)));
    DROVER_RETURN_IF_ERROR(db->Exec("PRAGMA user_version=" + std::to_string(m.version)));
    DROVER_RETURN_IF_ERROR(tx->Commit().Prefixed("migrate " + db->path()));
  }
  return Status::Ok();
}

}  // namespace drover
