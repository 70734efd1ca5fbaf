// The database connection of a scheduler, worker or spare process.
#ifndef DROVER_JOBS_PROCESS_STORE_H_
#define DROVER_JOBS_PROCESS_STORE_H_

#include <memory>

#include "common/config.h"
#include "jobs/job_store.h"

namespace drover {

// Opens the job store with the supervisor's lease and synchronous settings. Routine WAL
// checkpoints are left to the scheduler's background Checkpoint() calls.
Result<std::unique_ptr<JobStore>> OpenProcessStore(const SupervisorConfig& config);

}  // namespace drover

#endif  // DROVER_JOBS_PROCESS_STORE_H_
