// Retention: deletes finished jobs older than their state's retention period in small
// batches, each its own short transaction with a pause after it, so that workers claiming at
// the same time wait for at most one batch. Not thread-safe (uses the caller's store).
#ifndef DROVER_JOBS_PRUNER_H_
#define DROVER_JOBS_PRUNER_H_

#include <algorithm>
#include <cstdint>

#include "common/config.h"
#include "jobs/store/job_store.h"

namespace drover {

struct PruneLimits {
  int batch = 500;                  // rows per transaction
  int max_batches_per_state = 200;  // per call; the rest waits for the next call
  int pause_us = 1000;              // between batches: room for other writers
};

// Jobs finished within this long are never pruned: `droverctl stats` counts what finished in the
// last 5 minutes, and a prune must not change that count.
inline constexpr Duration kMinRetention{5 * 60'000};

// The cut-off for jobs of a state kept for `keep`: finished before it, they go.
inline std::int64_t PruneBefore(std::int64_t now_ms, Duration keep) {
  return now_ms - std::max(keep, kMinRetention).count();
}

// Prunes succeeded, failed, cancelled and expired jobs finished before now_ms minus their
// retention (at least kMinRetention). Returns how many were deleted; a store error stops that state's pass
// and is logged (the rest is tried again next call).
std::int64_t PruneFinishedJobs(JobStore* store, const RetentionConfig& retention, std::int64_t now_ms,
                               const PruneLimits& limits = {});

}  // namespace drover

#endif  // DROVER_JOBS_PRUNER_H_
