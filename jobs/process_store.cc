#include "jobs/process_store.h"

namespace drover {

Result<std::unique_ptr<JobStore>> OpenProcessStore(const SupervisorConfig& config) {
  StoreOptions so;
  so.lease = config.lease;
  so.synchronous_full = config.synchronous_full;
  so.background_checkpoints = true;
  return OpenSqliteJobStore(config.database, so);
}

}  // namespace drover
