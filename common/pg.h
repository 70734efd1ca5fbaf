// A small RAII layer over libpq: a connection with cached prepared statements, results, and
// pipelines (several statements sent in one round trip). Parameters and results travel as text.
// Not thread-safe. A connection must never cross fork(): connect once per process, after fork.
#ifndef DROVER_COMMON_PG_H_
#define DROVER_COMMON_PG_H_

#include <libpq-fe.h>

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"

namespace drover {

// The parameters of one statement ($1, $2, ... in the order added); text format, NULL as nullopt.
class PgParams {
 public:
  PgParams& Add(std::int64_t v) { return Add(std::to_string(v)); }
  PgParams& Add(int v) { return Add(static_cast<std::int64_t>(v)); }
  PgParams& Add(double v);
  PgParams& Add(bool v) { return Add(std::string(v ? "t" : "f")); }
  PgParams& Add(std::string v) {
    values_.emplace_back(std::move(v));
    return *this;
  }
  PgParams& Add(const char* v) { return Add(std::string(v)); }
  PgParams& Add(std::string_view v) { return Add(std::string(v)); }
  PgParams& Add(std::nullopt_t) {
    values_.emplace_back(std::nullopt);
    return *this;
  }
  template <typename T>
  PgParams& Add(const std::optional<T>& v) {
    return v ? Add(*v) : Add(std::nullopt);
  }
  // A text[] or bigint[] literal of `items`.
  PgParams& AddArray(const std::vector<std::string>& items);
  PgParams& AddArray(const std::vector<std::int64_t>& items);

  int size() const { return static_cast<int>(values_.size()); }
  // Pointers into this object, valid while it lives unchanged.
  std::vector<const char*> Pointers() const;

 private:
  std::vector<std::optional<std::string>> values_;
};

// One statement's result. Column indexes start at 0.
class PgResult {
 public:
  explicit PgResult(PGresult* r) : r_(r, &PQclear) {}
  int rows() const { return PQntuples(r_.get()); }
  // Rows an INSERT, UPDATE or DELETE touched.
  int affected() const;
  bool IsNull(int row, int col) const { return PQgetisnull(r_.get(), row, col) != 0; }
  std::string Text(int row, int col) const {
    return std::string(PQgetvalue(r_.get(), row, col), PQgetlength(r_.get(), row, col));
  }
  std::int64_t Int64(int row, int col) const;
  double Double(int row, int col) const;
  bool Bool(int row, int col) const { return PQgetvalue(r_.get(), row, col)[0] == 't'; }
  std::optional<std::string> OptText(int row, int col) const;
  std::optional<std::int64_t> OptInt64(int row, int col) const;
  std::optional<double> OptDouble(int row, int col) const;
  const PGresult* handle() const { return r_.get(); }

 private:
  std::unique_ptr<PGresult, decltype(&PQclear)> r_;
};

// Statements queued to run in one round trip (Pg::Run).
class PgBatch {
 public:
  // Returns the index of this statement's result.
  size_t Add(std::string sql, PgParams params = {}) {
    items_.push_back({std::move(sql), std::move(params)});
    return items_.size() - 1;
  }
  bool empty() const { return items_.empty(); }

 private:
  friend class Pg;
  struct Item {
    std::string sql;
    PgParams params;
  };
  std::vector<Item> items_;
};

// Turns a failed result into a Status naming `what`, the server's message and SQLSTATE:
// unique violations become Conflict, check and data errors InvalidArgument, lock and
// serialization failures Busy, lost connections IoError.
Status PgStatus(const PGresult* r, PGconn* conn, std::string_view what);

class Pg {
 public:
  // Connects to `uri` (any libpq connection string) and runs `session_sql` (settings such as
  // search_path), again after each reconnect. The error names the server (never the password)
  // and libpq's reason.
  static Result<Pg> Connect(const std::string& uri, std::string session_sql = "");
  Pg(Pg&&) noexcept = default;
  Pg& operator=(Pg&&) noexcept = default;

  // One statement, prepared once per connection and cached by its text.
  Result<PgResult> Exec(const std::string& sql, const PgParams& params = {});
  // Statements without parameters, several separated by ';' (migrations, LISTEN).
  Status ExecScript(const std::string& sql);
  // Every statement of `batch` in one round trip, in order. The first failure fails the call
  // (the statements after it do not run); wrap the batch in BEGIN ... COMMIT to make it atomic.
  Result<std::vector<PgResult>> Run(const PgBatch& batch);

  // After a lost connection (IoError), connects again; prepared statements are made anew.
  // Called by Exec/ExecScript/Run themselves when the connection is known to be down, except
  // inside a PgTransaction (its statements would then run outside it): that fails with IoError.
  Status Reconnect();
  bool Broken() const { return PQstatus(conn_.get()) != CONNECTION_OK; }
  PGconn* handle() const { return conn_.get(); }
  int socket() const { return PQsocket(conn_.get()); }
  int server_version() const { return PQserverVersion(conn_.get()); }
  // Bumped by each reconnect: what depends on the session (LISTEN) checks it.
  int generation() const { return generation_; }
  // Where the connection goes, for messages: host or socket directory, and database.
  std::string Where() const;

 private:
  explicit Pg(PGconn* c) : conn_(c, &PQfinish) {}
  Result<std::string> Prepared(const std::string& sql, int nparams);
  Status Ready();

  Status StartSession();

  std::unique_ptr<PGconn, decltype(&PQfinish)> conn_;
  std::string session_sql_;
  friend class PgTransaction;
  std::map<std::string, std::string> prepared_;  // sql -> statement name
  int generation_ = 0;
  bool in_transaction_ = false;  // a PgTransaction is open: no silent reconnect
};

// A transaction on a connection: rolled back when destroyed uncommitted.
class PgTransaction {
 public:
  static Result<PgTransaction> Begin(Pg* pg);
  PgTransaction(PgTransaction&& o) noexcept : pg_(o.pg_) { o.pg_ = nullptr; }
  PgTransaction& operator=(PgTransaction&&) = delete;
  ~PgTransaction();
  Status Commit();

 private:
  explicit PgTransaction(Pg* pg) : pg_(pg) {}
  Pg* pg_;
};

}  // namespace drover

#endif  // DROVER_COMMON_PG_H_
