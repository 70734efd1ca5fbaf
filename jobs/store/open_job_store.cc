#include "jobs/store/open_job_store.h"

#include "jobs/store/pg_store.h"
#include "jobs/store/sqlite_store.h"

namespace drover {

Result<std::unique_ptr<JobStore>> OpenJobStore(const StoreConfig& config) {
  const std::string& db = config.database;
  if (IsPostgresUri(db)) {
    Result<std::unique_ptr<PgJobStore>> store = PgJobStore::Open(config);
    if (!store.ok()) return store.status();
    return std::unique_ptr<JobStore>(std::move(store).value());
  }
  if (IsDatabaseUrl(db)) {
    // Not echoed whole: a URL may carry a password.
    return Status::InvalidArgument("database \"" + db.substr(0, db.find("://") + 3) +
                                   "...\": this drover supports an SQLite file path, or a PostgreSQL URI "
                                   "(postgresql://...)");
  }
  Result<std::unique_ptr<SqliteJobStore>> store = SqliteJobStore::Open(config);
  if (!store.ok()) return store.status();
  return std::unique_ptr<JobStore>(std::move(store).value());
}

StoreConfig StoreConfigFor(const SupervisorConfig& supervisor) {
  StoreConfig c;
  c.database = supervisor.database;
  c.lease = supervisor.lease;
  c.synchronous_full = supervisor.synchronous_full;
  return c;
}

}  // namespace drover
