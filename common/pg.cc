#include "common/pg.h"

#include <charconv>
#include <cstdio>
#include <cstdlib>
#include <cstring>

namespace drover {
namespace {

// An array element in double quotes, with \ and " escaped (text[] input syntax).
void AppendQuoted(std::string* out, const std::string& s) {
  out->push_back('"');
  for (char c : s) {
    if (c == '"' || c == '\\') out->push_back('\\');
    out->push_back(c);
  }
  out->push_back('"');
}

std::string Trimmed(const char* message) {
  std::string s = message ? message : "";
  while (!s.empty() && (s.back() == '\n' || s.back() == ' ')) s.pop_back();
  return s;
}

}  // namespace

PgParams& PgParams::Add(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.17g", v);
  return Add(std::string(buf));
}

PgParams& PgParams::AddArray(const std::vector<std::string>& items) {
  std::string a = "{";
  for (size_t i = 0; i < items.size(); ++i) {
    if (i) a.push_back(',');
    AppendQuoted(&a, items[i]);
  }
  return Add(a + "}");
}

PgParams& PgParams::AddArray(const std::vector<std::int64_t>& items) {
  std::string a = "{";
  for (size_t i = 0; i < items.size(); ++i) a += (i ? "," : "") + std::to_string(items[i]);
  return Add(a + "}");
}

std::vector<const char*> PgParams::Pointers() const {
  std::vector<const char*> out;
  out.reserve(values_.size());
  for (const auto& v : values_) out.push_back(v ? v->c_str() : nullptr);
  return out;
}

int PgResult::affected() const {
  const char* n = PQcmdTuples(r_.get());
  return n && *n ? std::atoi(n) : 0;
}

std::int64_t PgResult::Int64(int row, int col) const {
  const char* v = PQgetvalue(r_.get(), row, col);
  std::int64_t out = 0;
  std::from_chars(v, v + std::strlen(v), out);
  return out;
}

double PgResult::Double(int row, int col) const {
  return std::strtod(PQgetvalue(r_.get(), row, col), nullptr);
}

std::optional<std::string> PgResult::OptText(int row, int col) const {
  if (IsNull(row, col)) return std::nullopt;
  return Text(row, col);
}
std::optional<std::int64_t> PgResult::OptInt64(int row, int col) const {
  if (IsNull(row, col)) return std::nullopt;
  return Int64(row, col);
}
std::optional<double> PgResult::OptDouble(int row, int col) const {
  if (IsNull(row, col)) return std::nullopt;
  return Double(row, col);
}

Status PgStatus(const PGresult* r, PGconn* conn, std::string_view what) {
  std::string message = Trimmed(r ? PQresultErrorMessage(r) : PQerrorMessage(conn));
  if (message.empty()) message = Trimmed(PQerrorMessage(conn));
  const char* state = r ? PQresultErrorField(r, PG_DIAG_SQLSTATE) : nullptr;
  std::string code = state ? state : "";
  std::string text = std::string(what) + ": " + message + (code.empty() ? "" : " (SQLSTATE " + code + ")");
  if (code == "23505") return Status::Conflict(text);
  if (code.starts_with("22") || code.starts_with("23") || code == "P0001")
    return Status::InvalidArgument(text);
  if (code == "40001" || code == "40P01" || code == "55P03" || code == "57014") return Status::Busy(text);
  if (code == "3F000" || code == "42P01") return Status::Corruption(text);
  if (code.empty() || code.starts_with("08") || code.starts_with("57P") || PQstatus(conn) != CONNECTION_OK)
    return Status::IoError(text);
  return Status::Internal(text);
}

Result<Pg> Pg::Connect(const std::string& uri, std::string session_sql) {
  PGconn* c = PQconnectdb(uri.c_str());
  if (!c) return Status::IoError("connect to PostgreSQL: out of memory");
  Pg pg(c);
  if (PQstatus(c) != CONNECTION_OK) {
    return Status::IoError("connect to PostgreSQL at " + pg.Where() + ": " + Trimmed(PQerrorMessage(c)));
  }
  pg.session_sql_ = std::move(session_sql);
  Status s = pg.StartSession();
  if (!s.ok()) return s;
  return pg;
}

Status Pg::StartSession() {
  // Text travels as UTF-8 and floats in full precision, whatever the server's defaults.
  return ExecScript("SET client_encoding = 'UTF8'; SET extra_float_digits = 3; " + session_sql_)
      .Prefixed("set up a session at " + Where());
}

std::string Pg::Where() const {
  const char* host = PQhost(conn_.get());
  const char* db = PQdb(conn_.get());
  const char* port = PQport(conn_.get());
  std::string h = host && *host ? host : "localhost";
  if (port && *port && h.front() != '/') h += ":" + std::string(port);
  return h + (h.front() == '/' ? " (socket)" : "") + ", database " + (db && *db ? db : "?");
}

Status Pg::Reconnect() {
  PQreset(conn_.get());
  prepared_.clear();
  ++generation_;
  if (PQstatus(conn_.get()) != CONNECTION_OK) {
    return Status::IoError("reconnect to PostgreSQL at " + Where() + ": " +
                           Trimmed(PQerrorMessage(conn_.get())));
  }
  return StartSession();
}

Status Pg::Ready() {
  if (!Broken()) return Status::Ok();
  if (in_transaction_)
    return Status::IoError("lost the connection to PostgreSQL at " + Where() + " in a transaction");
  return Reconnect();
}

Result<std::string> Pg::Prepared(const std::string& sql, int nparams) {
  auto it = prepared_.find(sql);
  if (it != prepared_.end()) return it->second;
  std::string name = "drover_" + std::to_string(prepared_.size() + 1);
  PgResult r(PQprepare(conn_.get(), name.c_str(), sql.c_str(), nparams, nullptr));
  if (PQresultStatus(r.handle()) != PGRES_COMMAND_OK) return PgStatus(r.handle(), conn_.get(), "prepare");
  prepared_.emplace(sql, name);
  return name;
}

Result<PgResult> Pg::Exec(const std::string& sql, const PgParams& params) {
  DROVER_RETURN_IF_ERROR(Ready());
  Result<std::string> name = Prepared(sql, params.size());
  if (!name.ok()) return name.status();
  std::vector<const char*> values = params.Pointers();
  PgResult r(PQexecPrepared(conn_.get(), name->c_str(), params.size(), values.data(), nullptr, nullptr, 0));
  ExecStatusType st = PQresultStatus(r.handle());
  if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK) return PgStatus(r.handle(), conn_.get(), "query");
  return r;
}

Status Pg::ExecScript(const std::string& sql) {
  DROVER_RETURN_IF_ERROR(Ready());
  PgResult r(PQexec(conn_.get(), sql.c_str()));
  ExecStatusType st = PQresultStatus(r.handle());
  if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK) return PgStatus(r.handle(), conn_.get(), "query");
  return Status::Ok();
}

Result<std::vector<PgResult>> Pg::Run(const PgBatch& batch) {
  DROVER_RETURN_IF_ERROR(Ready());
  std::vector<std::string> names;
  for (const PgBatch::Item& item : batch.items_) {
    Result<std::string> name = Prepared(item.sql, item.params.size());
    if (!name.ok()) return name.status();
    names.push_back(*name);
  }
  PGconn* c = conn_.get();
  if (PQenterPipelineMode(c) != 1) return PgStatus(nullptr, c, "enter pipeline mode");
  bool sent = true;
  for (size_t i = 0; i < names.size() && sent; ++i) {
    const PgParams& p = batch.items_[i].params;
    std::vector<const char*> values = p.Pointers();
    sent = PQsendQueryPrepared(c, names[i].c_str(), p.size(), values.data(), nullptr, nullptr, 0) == 1;
  }
  sent = sent && PQpipelineSync(c) == 1 && PQflush(c) == 0;
  std::vector<PgResult> out;
  Status failed;
  if (!sent) failed = PgStatus(nullptr, c, "send");
  // Read every result up to the sync point, whatever happened, so the connection is usable after.
  while (sent) {
    PGresult* raw = PQgetResult(c);
    // Once every statement answered (a COMMIT among them), the batch happened: the connection
    // ending before the sync point (a server shutting down) is the next call's to handle.
    const bool all_answered = out.size() == names.size();
    if (!raw) {
      if (PQstatus(c) != CONNECTION_OK) {
        if (failed.ok() && !all_answered) failed = PgStatus(nullptr, c, "query");
        break;
      }
      continue;  // the end of one statement's results
    }
    PgResult r(raw);
    ExecStatusType st = PQresultStatus(raw);
    if (st == PGRES_PIPELINE_SYNC) break;
    if (st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK) {
      out.push_back(std::move(r));
    } else if (st != PGRES_PIPELINE_ABORTED && failed.ok() && !all_answered) {
      failed = PgStatus(raw, c, "query");
    } else if (all_answered && PQstatus(c) != CONNECTION_OK) {
      break;
    }
  }
  PQexitPipelineMode(c);
  if (!failed.ok()) {
    if (!Broken() && PQtransactionStatus(c) != PQTRANS_IDLE) PQclear(PQexec(c, "ROLLBACK"));
    return failed;
  }
  return out;
}

Result<PgTransaction> PgTransaction::Begin(Pg* pg) {
  DROVER_RETURN_IF_ERROR(pg->ExecScript("BEGIN"));
  pg->in_transaction_ = true;
  return PgTransaction(pg);
}

PgTransaction::~PgTransaction() {
  if (!pg_) return;
  pg_->in_transaction_ = false;
  if (!pg_->Broken() && PQtransactionStatus(pg_->handle()) != PQTRANS_IDLE)
    PQclear(PQexec(pg_->handle(), "ROLLBACK"));
}

Status PgTransaction::Commit() {
  Pg* pg = pg_;
  pg_ = nullptr;
  Status s = pg->ExecScript("COMMIT");
  pg->in_transaction_ = false;
  return s;
}

}  // namespace drover
