// The job table's schema and its forward-only migrations (PRAGMA user_version).
// Not thread-safe; runs on the caller's connection.
#ifndef DROVER_JOBS_STORE_SQLITE_SCHEMA_H_
#define DROVER_JOBS_STORE_SQLITE_SCHEMA_H_

#include "common/sqlite.h"
#include "common/status.h"

namespace drover {

// Brings the database to the newest schema in one BEGIN IMMEDIATE transaction per step.
// Fails with Unsupported when the file's schema is newer than this program knows.
Status MigrateSchema(SqliteDb* db);

int LatestSchemaVersion();

// Fails with Corruption naming a trigger on drover's tables that drover did not create: whoever
// can write the file could otherwise run SQL inside drover's transactions. Other tables' triggers
// and views (an application's, in the same file) are accepted.
Status CheckNoForeignTriggers(SqliteDb* db);

}  // namespace drover

#endif  // DROVER_JOBS_STORE_SQLITE_SCHEMA_H_
