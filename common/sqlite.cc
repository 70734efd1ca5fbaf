#include "common/sqlite.h"

#include <time.h>

#include <unordered_map>

#include "common/time_util.h"

namespace drover {

struct SqliteDb::Impl {
  sqlite3* db = nullptr;
  std::string path;
  std::unordered_map<std::string, sqlite3_stmt*> cache;
  int busy_timeout_us = 5'000'000;
  std::int64_t busy_started_us = 0;
  std::int64_t busy_total_us = 0;

  ~Impl() {
    for (auto& [sql, stmt] : cache) sqlite3_finalize(stmt);
    if (db != nullptr) sqlite3_close_v2(db);
  }
};

namespace {

// SQLite's default busy handler sleeps in whole milliseconds; with several processes
// committing every few microseconds that wastes most of the wait. Spin briefly, then back
// off from 10 µs to 1 ms.
int BusyHandler(void* ctx, int count) {
  auto* impl = static_cast<SqliteDb::Impl*>(ctx);
  std::int64_t now = MonotonicUs();
  if (count == 0) impl->busy_started_us = now;
  std::int64_t waited = now - impl->busy_started_us;
  if (waited >= impl->busy_timeout_us) {
    impl->busy_total_us += waited;
    return 0;
  }
  if (count < 4) {
    sched_yield();
  } else {
    std::int64_t sleep_us = std::min<std::int64_t>(1000, 10LL << std::min(count - 4, 7));
    timespec ts{0, static_cast<long>(sleep_us * 1000)};
    nanosleep(&ts, nullptr);
  }
  return 1;
}

// "database /var/lib/drover/drover.db": errors name the file they are about.
std::string DatabaseName(sqlite3* db) {
  const char* f = sqlite3_db_filename(db, "main");
  return std::string("database ") + (f && *f ? f : "(in memory)");
}

}  // namespace

Status SqliteStatus(sqlite3* db, int rc, std::string_view what) {
  std::string msg = std::string(what) + ": " + (db ? sqlite3_errmsg(db) : sqlite3_errstr(rc));
  int primary = rc & 0xff;
  if (db && primary != SQLITE_OK) {
    std::string errstr = sqlite3_errstr(rc);
    if (msg.find(errstr) == std::string::npos) msg += " (" + errstr + ")";
  }
  switch (primary) {
    case SQLITE_OK:
    case SQLITE_ROW:
    case SQLITE_DONE:
      return Status::Ok();
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
      return Status::Busy(msg + "; another process holds the database lock");
    case SQLITE_CORRUPT:
    case SQLITE_NOTADB:
      return Status::Corruption(msg);
    case SQLITE_CONSTRAINT:
      return Status::Conflict(msg);
    case SQLITE_FULL:
      return Status::IoError(msg + "; free disk space and retry");
    case SQLITE_CANTOPEN:
      return Status::IoError(msg + " (does the directory exist and is it writable?)");
    case SQLITE_READONLY:
    case SQLITE_PERM:
      return Status::IoError(msg + " (check the file's owner and mode)");
    case SQLITE_MISUSE:
    case SQLITE_RANGE:
    case SQLITE_ERROR:
      return Status::InvalidArgument(msg);
    default:
      return Status::IoError(msg);
  }
}

// --- Statement ---

Statement::~Statement() {
  if (stmt_ != nullptr) {
    sqlite3_reset(stmt_);
    sqlite3_clear_bindings(stmt_);
  }
}

Statement& Statement::Bind(int idx, std::int64_t v) {
  sqlite3_bind_int64(stmt_, idx, v);
  return *this;
}
Statement& Statement::Bind(int idx, double v) {
  sqlite3_bind_double(stmt_, idx, v);
  return *this;
}
Statement& Statement::Bind(int idx, std::string_view v) {
  sqlite3_bind_text64(stmt_, idx, v.data(), v.size(), SQLITE_TRANSIENT, SQLITE_UTF8);
  return *this;
}
Statement& Statement::Bind(int idx, std::nullopt_t) {
  sqlite3_bind_null(stmt_, idx);
  return *this;
}

Result<bool> Statement::Step() {
  int rc = sqlite3_step(stmt_);
  if (rc == SQLITE_ROW) return true;
  if (rc == SQLITE_DONE) return false;
  Status st = SqliteStatus(db_->handle(), rc, DatabaseName(db_->handle()));
  sqlite3_reset(stmt_);
  return st;
}

Status Statement::Run() {
  while (true) {
    Result<bool> r = Step();
    if (!r.ok()) return r.status();
    if (!*r) return Status::Ok();
  }
}

void Statement::Reset() { sqlite3_reset(stmt_); }

std::string Statement::Text(int col) const {
  const unsigned char* p = sqlite3_column_text(stmt_, col);
  if (p == nullptr) return {};
  return std::string(reinterpret_cast<const char*>(p), sqlite3_column_bytes(stmt_, col));
}
std::optional<std::int64_t> Statement::OptInt64(int col) const {
  if (IsNull(col)) return std::nullopt;
  return Int64(col);
}
std::optional<std::string> Statement::OptText(int col) const {
  if (IsNull(col)) return std::nullopt;
  return Text(col);
}
std::optional<double> Statement::OptDouble(int col) const {
  if (IsNull(col)) return std::nullopt;
  return Double(col);
}

// --- SqliteDb ---

SqliteDb::SqliteDb() = default;
SqliteDb::~SqliteDb() = default;
SqliteDb::SqliteDb(SqliteDb&&) noexcept = default;
SqliteDb& SqliteDb::operator=(SqliteDb&&) noexcept = default;

Result<SqliteDb> SqliteDb::Open(const std::string& path, const SqliteOptions& options) {
  // Before SQLite initializes (the first open in this process): no global memory statistics,
  // which take a process-wide mutex on every allocation. drover reads none of them.
  static const bool configured = sqlite3_config(SQLITE_CONFIG_MEMSTATUS, 0) == SQLITE_OK;
  (void)configured;
  SqliteDb db;
  db.impl_ = std::make_unique<Impl>();
  db.impl_->path = path;
  int flags = SQLITE_OPEN_NOMUTEX | SQLITE_OPEN_EXRESCODE;
  flags |= options.read_only ? SQLITE_OPEN_READONLY
                             : (SQLITE_OPEN_READWRITE | (options.create ? SQLITE_OPEN_CREATE : 0));
  int rc = sqlite3_open_v2(path.c_str(), &db.impl_->db, flags, nullptr);
  if (rc != SQLITE_OK) return SqliteStatus(db.impl_->db, rc, "open database " + path);
  sqlite3_extended_result_codes(db.impl_->db, 1);
  // Whoever can write the file must not be able to corrupt it through this connection
  // (writable_schema and the like). trusted_schema stays on: SQLite 3.40 does not mark
  // json_valid(), which the jobs table's CHECK uses, as innocuous. Schema-borne SQL is kept out
  // instead by refusing any trigger or view drover did not create (jobs/store/sqlite_schema.h).
  sqlite3_db_config(db.impl_->db, SQLITE_DBCONFIG_DEFENSIVE, 1, nullptr);
  db.impl_->busy_timeout_us = options.busy_timeout_ms * 1000;
  sqlite3_busy_handler(db.impl_->db, BusyHandler, db.impl_.get());

  // journal_mode needs a lock and reads the header: this is where "not a database" shows up.
  if (!options.read_only) {
    Result<Statement> wal = db.Prepare("PRAGMA journal_mode=WAL");
    if (!wal.ok()) return wal.status().Prefixed("open database " + path);
    Result<bool> row = wal->Step();
    if (!row.ok()) return row.status().Prefixed("open database " + path);
    if (!*row || wal->Text(0) != "wal") {
      return Status::IoError("open database " + path + ": cannot switch to WAL mode (got \"" +
                             (*row ? wal->Text(0) : std::string()) + "\")");
    }
  }
  std::string pragmas =
      std::string("PRAGMA synchronous=") + (options.synchronous_full ? "FULL" : "NORMAL") +
      "; PRAGMA foreign_keys=ON; PRAGMA wal_autocheckpoint=" + std::to_string(options.wal_autocheckpoint) +
      "; PRAGMA journal_size_limit=67108864;";
  DROVER_RETURN_IF_ERROR(db.Exec(pragmas).Prefixed("open database " + path));
  return db;
}

bool SqliteDb::is_open() const { return impl_ && impl_->db != nullptr; }
const std::string& SqliteDb::path() const { return impl_->path; }
sqlite3* SqliteDb::handle() const { return impl_ ? impl_->db : nullptr; }
std::int64_t SqliteDb::busy_wait_us() const { return impl_->busy_total_us; }

Status SqliteDb::Exec(std::string_view sql) {
  char* err = nullptr;
  std::string s(sql);
  int rc = sqlite3_exec(impl_->db, s.c_str(), nullptr, nullptr, &err);
  if (rc == SQLITE_OK) return Status::Ok();
  Status st = SqliteStatus(impl_->db, rc, DatabaseName(impl_->db));
  sqlite3_free(err);
  return st;
}

Result<Statement> SqliteDb::Prepare(const std::string& sql) {
  auto it = impl_->cache.find(sql);
  if (it == impl_->cache.end()) {
    sqlite3_stmt* stmt = nullptr;
    int rc = sqlite3_prepare_v3(impl_->db, sql.data(), static_cast<int>(sql.size()),
                                SQLITE_PREPARE_PERSISTENT, &stmt, nullptr);
    if (rc != SQLITE_OK) return SqliteStatus(impl_->db, rc, "prepare (" + DatabaseName(impl_->db) + ")");
    it = impl_->cache.emplace(sql, stmt).first;
  }
  return Statement(it->second, this);
}

std::int64_t SqliteDb::LastInsertRowid() const { return sqlite3_last_insert_rowid(impl_->db); }
int SqliteDb::Changes() const { return sqlite3_changes(impl_->db); }

Result<std::int64_t> SqliteDb::PragmaInt(const std::string& name) {
  Result<Statement> st = Prepare("PRAGMA " + name);
  if (!st.ok()) return st.status();
  Result<bool> row = st->Step();
  if (!row.ok()) return row.status();
  if (!*row) return Status::NotFound("PRAGMA " + name + " returned no row");
  return st->Int64(0);
}

// --- Transaction ---

Result<Transaction> Transaction::Begin(SqliteDb* db, Mode mode) {
  Result<Statement> st = db->Prepare(mode == Mode::kImmediate ? "BEGIN IMMEDIATE" : "BEGIN DEFERRED");
  if (!st.ok()) return st.status();
  DROVER_RETURN_IF_ERROR(st->Run());
  return Transaction(db);
}

Transaction::~Transaction() {
  if (db_ != nullptr && !sqlite3_get_autocommit(db_->handle())) {
    Result<Statement> st = db_->Prepare("ROLLBACK");
    if (st.ok()) (void)st->Run();
  }
}

Status Transaction::Commit() {
  Result<Statement> st = db_->Prepare("COMMIT");
  if (!st.ok()) return st.status();
  Status s = st->Run();
  if (s.ok()) db_ = nullptr;
  return s;
}

}  // namespace drover
