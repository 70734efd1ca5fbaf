// Exponential backoff with jitter: the delay before a failed job's next attempt and the
// cool-off before a crashed process starts again. Pure given its RNG; thread-compatible.
#ifndef DROVER_COMMON_BACKOFF_H_
#define DROVER_COMMON_BACKOFF_H_

#include <random>

#include "common/duration.h"

namespace drover {

struct BackoffPolicy {
  Duration first;     // the delay after the first failure
  Duration max;       // no delay is longer
  double jitter = 0;  // each delay is scaled by a random factor in [1 - jitter, 1 + jitter)
};

// The delay after the `failures`-th failure in a row (>= 1): first * 2^(failures-1), jittered,
// capped at `max`.
Duration BackoffDelay(const BackoffPolicy& policy, int failures, std::mt19937_64& rng);

}  // namespace drover

#endif  // DROVER_COMMON_BACKOFF_H_
