#include "common/backoff.h"

#include <algorithm>

namespace drover {

Duration BackoffDelay(const BackoffPolicy& policy, int failures, std::mt19937_64& rng) {
  int shift = std::clamp(failures - 1, 0, 40);
  double d = static_cast<double>(policy.first.count()) * static_cast<double>(1ULL << shift);
  if (policy.jitter > 0)
    d *= std::uniform_real_distribution<double>(1 - policy.jitter, 1 + policy.jitter)(rng);
  return Duration(static_cast<std::int64_t>(std::min(d, static_cast<double>(policy.max.count()))));
}

}  // namespace drover
