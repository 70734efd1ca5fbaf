// RestartBackoff: the cool-off before a crashed child is started again. Exponential from
// restart_delay to restart_delay_max with jitter; reset once a child stayed up for startsecs.
// Pure given its RNG; not thread-safe.
#ifndef DROVER_SUPERVISOR_RESTART_BACKOFF_H_
#define DROVER_SUPERVISOR_RESTART_BACKOFF_H_

#include <random>

#include "common/duration.h"

namespace drover {

// The cool-off after the `failures`-th rapid failure in a row (>= 1):
// first * 2^(failures-1), scaled by a random factor in [0.9, 1.1], capped at `max`.
Duration RestartDelay(int failures, Duration first, Duration max, std::mt19937_64& rng);

}  // namespace drover

#endif  // DROVER_SUPERVISOR_RESTART_BACKOFF_H_
