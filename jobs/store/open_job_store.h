// OpenJobStore: the one way a process opens the job store; the database setting picks the
// backend.
#ifndef DROVER_JOBS_STORE_OPEN_JOB_STORE_H_
#define DROVER_JOBS_STORE_OPEN_JOB_STORE_H_

#include <memory>

#include "common/config.h"
#include "jobs/store/job_store.h"

namespace drover {

// Opens the store `config.database` names: a URL with a scheme ("postgresql://...") names a
// database server; anything else is the path of an SQLite file. Fails with InvalidArgument for
// a scheme this program does not support, or with the backend's error.
Result<std::unique_ptr<JobStore>> OpenJobStore(const StoreConfig& config);

// For `droverd --check-config` on PostgreSQL: connects and describes the server and the state of
// the schema ("PostgreSQL 15.5 at HOST, database D; schema drover at version 1 (current)"), or
// fails naming what is wrong: unreachable, authentication, a schema newer than this program.
Result<std::string> DescribePostgres(const StoreConfig& config);

// The store settings of a [supervisor] section: database, lease, node_timeout, synchronous.
StoreConfig StoreConfigFor(const SupervisorConfig& supervisor);

// How long after its worker's last claim or lease renewal was sent no one else may take a running
// job: its lease or, on PostgreSQL, node_timeout after its node's heartbeat, whichever is shorter.
// A claim counts as a heartbeat late by up to ClaimBeatSlack (0 on SQLite, which has no nodes),
// so that the claims of a busy node do not all write its row; the window after a claim is that
// much shorter.
Duration TakeoverWindow(const StoreConfig& config);
Duration ClaimBeatSlack(const StoreConfig& config);

}  // namespace drover

#endif  // DROVER_JOBS_STORE_OPEN_JOB_STORE_H_
