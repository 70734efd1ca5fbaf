// The PostgreSQL job tables and their forward-only migrations, in a schema of drover's own
// (StoreConfig::pg_schema, default "drover"). The same columns and meanings as the SQLite
// schema: times are integer milliseconds since the Unix epoch (bigint), so plain SQL is the same
// on both backends; payloads, checkpoints and the error history are jsonb.
// Not thread-safe; runs on the caller's connection.
#ifndef DROVER_JOBS_STORE_PG_SCHEMA_H_
#define DROVER_JOBS_STORE_PG_SCHEMA_H_

#include <string>

#include "common/pg.h"
#include "common/status.h"

namespace drover {

// Creates the schema if needed and applies pending migrations, one transaction each, under an
// advisory lock (nodes starting together migrate once). Unsupported when the stored schema is
// newer than this program knows.
Status MigratePgSchema(Pg* pg, const std::string& schema);

// Fails (Corruption, naming it and how to drop it) when a table of `schema` holds a trigger that
// drover did not create: it would run inside droverd's transactions with droverd's rights.
Status CheckNoForeignPgTriggers(Pg* pg, const std::string& schema);

// The stored schema version; 0 when the schema or its version table does not exist.
Result<int> PgSchemaVersion(Pg* pg, const std::string& schema);

int LatestPgSchemaVersion();

// The LISTEN/NOTIFY channel on which the tables' triggers announce work.
std::string PgChannel(const std::string& schema);
// The channel on which they announce that jobs ended (no payload; one per transaction): for
// waiters such as the Python client's drover.wait. No drover process listens on it.
std::string PgDoneChannel(const std::string& schema);

}  // namespace drover

#endif  // DROVER_JOBS_STORE_PG_SCHEMA_H_
