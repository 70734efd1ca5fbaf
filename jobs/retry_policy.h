// Retry backoff for failed attempts: exponential from the job type's retry_delay, with
// jitter, capped by retry_delay_max. Pure; thread-safe given a per-thread RNG.
#ifndef DROVER_JOBS_RETRY_POLICY_H_
#define DROVER_JOBS_RETRY_POLICY_H_

#include <cstdint>
#include <random>

#include "common/duration.h"

namespace drover {

// The delay before attempt `attempt + 1`, after `attempt` (>= 1) failed:
// base * 2^(attempt-1), scaled by a random factor in [0.75, 1.25), never above `cap`.
Duration RetryDelay(int attempt, Duration base, Duration cap, std::mt19937_64& rng);

}  // namespace drover

#endif  // DROVER_JOBS_RETRY_POLICY_H_
