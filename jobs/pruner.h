// Retention: deletes finished jobs older than their state's retention period in small
// batches, each its own short transaction with a pause after it, so that workers claiming at
// the same time wait for at most one batch. Not thread-safe (uses the caller's store).
#ifndef DROVER_JOBS_PRUNER_H_
#define DROVER_JOBS_PRUNER_H_

#include <cstdint>

#include "common/config.h"
#include "jobs/store/job_store.h"

namespace drover {

struct PruneLimits {
  int batch = 500;                  // rows per transaction
  int max_batches_per_state = 200;  // per call; the rest waits for the next call
  int pause_us = 1000;              // between batches: room for other writers
};

// Prunes succeeded, failed, cancelled and expired jobs finished before now_ms minus their
// retention. Returns how many were deleted; a store error stops that state's pass and is
// logged (the rest is tried again next call).
std::int64_t PruneFinishedJobs(JobStore* store, const RetentionConfig& retention, std::int64_t now_ms,
                               const PruneLimits& limits = {});

}  // namespace drover

#endif  // DROVER_JOBS_PRUNER_H_
