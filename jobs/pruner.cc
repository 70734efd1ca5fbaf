#include "jobs/pruner.h"

#include <spdlog/spdlog.h>
#include <unistd.h>

#include <utility>

#include "common/duration.h"

namespace drover {

std::int64_t PruneFinishedJobs(JobStore* store, const RetentionConfig& r, std::int64_t now_ms,
                               const PruneLimits& limits) {
  std::int64_t all = 0;
  for (const JobStateInfo& info : kJobStates) {
    if (!info.final) continue;
    const JobState state = info.state;
    const Duration keep = r.*info.retention;
    std::int64_t total = 0;
    for (int i = 0; i < limits.max_batches_per_state; ++i) {
      Result<int> n = store->Prune(state, PruneBefore(now_ms, keep), limits.batch);
      if (!n.ok()) {
        spdlog::warn("{}", n.status().ToString());
        break;
      }
      total += *n;
      if (*n < limits.batch) break;
      usleep(static_cast<useconds_t>(limits.pause_us));
    }
    if (total > 0)
      spdlog::info("pruned {} {} job(s) older than {}", total, JobStateName(state), FormatDuration(keep));
    all += total;
  }
  return all;
}

}  // namespace drover
