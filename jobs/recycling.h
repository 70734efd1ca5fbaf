// When a worker should be replaced by a fresh one (pool settings max_jobs, max_age, max_memory).
// Pure but for ResidentBytes; thread-safe.
#ifndef DROVER_JOBS_RECYCLING_H_
#define DROVER_JOBS_RECYCLING_H_

#include <cstdint>
#include <string>

#include "common/config.h"

namespace drover {

// Why a worker that ran `jobs_done` jobs, is `age_us` old and uses `rss_bytes` of memory should
// be recycled, or "" when it should not. Pass 0 for what was not measured.
std::string RecycleReason(const PoolConfig& pool, std::int64_t jobs_done, std::int64_t age_us,
                          std::uint64_t rss_bytes);

// This process's resident memory (from /proc/self/statm); 0 when unknown.
std::uint64_t ResidentBytes();

}  // namespace drover

#endif  // DROVER_JOBS_RECYCLING_H_
