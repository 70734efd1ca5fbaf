#include "jobs/recycling.h"

#include <unistd.h>

#include <fstream>

#include "common/duration.h"

namespace drover {

std::string RecycleReason(const PoolConfig& pool, std::int64_t jobs_done, std::int64_t age_us,
                          std::uint64_t rss_bytes) {
  if (pool.max_memory > 0 && rss_bytes > pool.max_memory) {
    return "RSS " + FormatSize(rss_bytes) + " above max_memory " + FormatSize(pool.max_memory);
  }
  if (pool.max_age.count() > 0 && age_us >= Us(pool.max_age))
    return "older than max_age " + FormatDuration(pool.max_age);
  if (pool.max_jobs > 0 && jobs_done >= pool.max_jobs)
    return "ran " + std::to_string(jobs_done) + " jobs (max_jobs)";
  return "";
}

std::uint64_t ResidentBytes() {
  std::ifstream statm("/proc/self/statm");
  std::uint64_t size = 0, rss = 0;
  if (!(statm >> size >> rss)) return 0;
  return rss * static_cast<std::uint64_t>(sysconf(_SC_PAGESIZE));
}

}  // namespace drover
