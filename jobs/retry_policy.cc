#include "jobs/retry_policy.h"

#include <algorithm>

namespace drover {

Duration RetryDelay(int attempt, Duration base, Duration cap, std::mt19937_64& rng) {
  int shift = std::clamp(attempt - 1, 0, 40);
  double exp = static_cast<double>(base.count()) * static_cast<double>(1ULL << shift);
  double jitter = std::uniform_real_distribution<double>(0.75, 1.25)(rng);
  double ms = std::min(exp * jitter, static_cast<double>(cap.count()));
  return Duration(static_cast<std::int64_t>(ms));
}

}  // namespace drover
