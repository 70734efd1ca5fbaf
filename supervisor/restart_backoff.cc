#include "supervisor/restart_backoff.h"

#include <algorithm>

namespace drover {

Duration RestartDelay(int failures, Duration first, Duration max, std::mt19937_64& rng) {
  int shift = std::clamp(failures - 1, 0, 30);
  double d = static_cast<double>(first.count()) * static_cast<double>(1LL << shift);
  d *= std::uniform_real_distribution<double>(0.9, 1.1)(rng);
  return Duration(static_cast<std::int64_t>(std::min(d, static_cast<double>(max.count()))));
}

}  // namespace drover
