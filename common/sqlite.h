// A small RAII layer over SQLite: connection, cached prepared statements, transactions.
// Not thread-safe. A connection must never cross fork(): open one per process, after fork.
#ifndef DROVER_COMMON_SQLITE_H_
#define DROVER_COMMON_SQLITE_H_

#include <sqlite3.h>

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "common/status.h"

namespace drover {

struct SqliteOptions {
  bool synchronous_full = false;  // synchronous=FULL instead of NORMAL
  int busy_timeout_ms = 5000;     // give up with Busy after this long waiting for a lock
  // Pages after which a commit runs an automatic checkpoint; 0 disables it. Processes on the
  // hot path keep it high and leave routine checkpoints to one background connection.
  int wal_autocheckpoint = 10000;
  bool read_only = false;
  bool create = true;  // create the file if it does not exist
};

// Turns a SQLite result code into a Status ("<what>: <sqlite message> (<code name>)").
Status SqliteStatus(sqlite3* db, int rc, std::string_view what);

class SqliteDb;

// A prepared statement borrowed from a connection's cache; reset and unbound when destroyed.
// Bind indexes start at 1, column indexes at 0.
class Statement {
 public:
  Statement(sqlite3_stmt* stmt, SqliteDb* db) : stmt_(stmt), db_(db) {}
  ~Statement();
  Statement(const Statement&) = delete;
  Statement& operator=(const Statement&) = delete;
  Statement(Statement&& o) noexcept : stmt_(o.stmt_), db_(o.db_) { o.stmt_ = nullptr; }
  Statement& operator=(Statement&&) = delete;

  Statement& Bind(int idx, std::int64_t v);
  Statement& Bind(int idx, int v) { return Bind(idx, static_cast<std::int64_t>(v)); }
  Statement& Bind(int idx, double v);
  Statement& Bind(int idx, std::string_view v);
  Statement& Bind(int idx, const char* v) { return Bind(idx, std::string_view(v)); }
  Statement& Bind(int idx, const std::string& v) { return Bind(idx, std::string_view(v)); }
  Statement& Bind(int idx, std::nullopt_t);
  template <typename T>
  Statement& Bind(int idx, const std::optional<T>& v) {
    return v ? Bind(idx, *v) : Bind(idx, std::nullopt);
  }

  // Advances: true when a row is available, false when done; an error otherwise.
  Result<bool> Step();
  // Runs to completion, ignoring rows.
  Status Run();
  void Reset();

  bool IsNull(int col) const { return sqlite3_column_type(stmt_, col) == SQLITE_NULL; }
  std::int64_t Int64(int col) const { return sqlite3_column_int64(stmt_, col); }
  double Double(int col) const { return sqlite3_column_double(stmt_, col); }
  std::string Text(int col) const;
  std::optional<std::int64_t> OptInt64(int col) const;
  std::optional<std::string> OptText(int col) const;
  std::optional<double> OptDouble(int col) const;

 private:
  sqlite3_stmt* stmt_;
  SqliteDb* db_;
};

class SqliteDb {
 public:
  SqliteDb();
  ~SqliteDb();
  SqliteDb(SqliteDb&&) noexcept;
  SqliteDb& operator=(SqliteDb&&) noexcept;
  SqliteDb(const SqliteDb&) = delete;
  SqliteDb& operator=(const SqliteDb&) = delete;

  // Opens `path` in WAL mode with the options' pragmas, foreign keys on and a busy handler that
  // backs off in microseconds. Fails with the path and SQLite's reason (not a database, no
  // permission, missing directory...).
  static Result<SqliteDb> Open(const std::string& path, const SqliteOptions& options);

  bool is_open() const;
  const std::string& path() const;
  sqlite3* handle() const;

  // Runs one or more statements without results.
  Status Exec(std::string_view sql);
  // Returns the cached statement for `sql`, preparing it on first use.
  Result<Statement> Prepare(const std::string& sql);
  std::int64_t LastInsertRowid() const;
  int Changes() const;
  // Runs "PRAGMA name" and returns its first column as an integer.
  Result<std::int64_t> PragmaInt(const std::string& name);
  // Wall-clock microseconds this connection has spent waiting in its busy handler.
  std::int64_t busy_wait_us() const;

  struct Impl;  // opaque; public only so the busy handler can reach it

 private:
  std::unique_ptr<Impl> impl_;
};

// A transaction that rolls back unless committed. BEGIN IMMEDIATE takes the write lock at
// once, so a writer never has to upgrade (and deadlock) mid-transaction.
class Transaction {
 public:
  enum class Mode { kDeferred, kImmediate };
  static Result<Transaction> Begin(SqliteDb* db, Mode mode = Mode::kImmediate);
  ~Transaction();
  Transaction(Transaction&& o) noexcept : db_(o.db_) { o.db_ = nullptr; }
  Transaction& operator=(Transaction&&) = delete;
  Transaction(const Transaction&) = delete;

  Status Commit();

 private:
  explicit Transaction(SqliteDb* db) : db_(db) {}
  SqliteDb* db_;
};

}  // namespace drover

#endif  // DROVER_COMMON_SQLITE_H_
