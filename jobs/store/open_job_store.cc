#include "jobs/store/open_job_store.h"

#include "jobs/store/pg_schema.h"
#include "jobs/store/pg_store.h"
#include "jobs/store/sqlite_store.h"

namespace drover {

Result<std::unique_ptr<JobStore>> OpenJobStore(const StoreConfig& config) {
  const std::string& db = config.database;
  if (IsPostgresDatabase(db)) {
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

Result<std::string> DescribePostgres(const StoreConfig& config) {
  Result<Pg> pg = Pg::Connect(config.database);
  if (!pg.ok()) return pg.status();
  Result<int> version = PgSchemaVersion(&*pg, config.schema);
  if (!version.ok()) return version.status().Prefixed("read schema " + config.schema);
  const int v = pg->server_version();
  std::string out = "PostgreSQL " + std::to_string(v / 10000) + "." + std::to_string(v % 10000) + " at " +
                    pg->Where() + "; schema " + config.schema;
  if (*version == 0) return out + " not created yet (droverd creates it)";
  if (*version > LatestPgSchemaVersion()) {
    return Status::Unsupported(out + " is at version " + std::to_string(*version) +
                               ", newer than this drover understands (" +
                               std::to_string(LatestPgSchemaVersion()) + "); upgrade drover");
  }
  return out + " at version " + std::to_string(*version) +
         (*version == LatestPgSchemaVersion() ? " (current)" : " (droverd upgrades it)");
}

StoreConfig StoreConfigFor(const SupervisorConfig& supervisor) {
  StoreConfig c;
  c.database = supervisor.database;
  c.lease = supervisor.lease;
  c.node_timeout = supervisor.node_timeout;
  c.synchronous_full = supervisor.synchronous_full;
  c.schema = supervisor.schema;
  c.listen = supervisor.listen;
  return c;
}

Duration TakeoverWindow(const StoreConfig& config) {
  return IsPostgresDatabase(config.database) ? std::min(config.lease, config.node_timeout) : config.lease;
}

Duration ClaimBeatSlack(const StoreConfig& config) {
  return IsPostgresDatabase(config.database) ? TakeoverWindow(config) / 10 : Duration(0);
}

}  // namespace drover
