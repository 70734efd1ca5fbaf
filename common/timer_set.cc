#include "common/timer_set.h"

#include <algorithm>

namespace drover {

void TimerSet::SetEarliest(Key key, std::int64_t at_us) {
  auto [it, added] = deadlines_.emplace(key, at_us);
  if (!added) it->second = std::min(it->second, at_us);
}

std::int64_t TimerSet::Next() const {
  std::int64_t next = kNever;
  for (const auto& [key, at] : deadlines_) next = std::min(next, at);
  return next;
}

std::vector<TimerSet::Key> TimerSet::TakeDue(std::int64_t now_us) {
  std::vector<std::pair<std::int64_t, Key>> due;
  for (auto it = deadlines_.begin(); it != deadlines_.end();) {
    if (it->second <= now_us) {
      due.emplace_back(it->second, it->first);
      it = deadlines_.erase(it);
    } else {
      ++it;
    }
  }
  std::sort(due.begin(), due.end());
  std::vector<Key> keys;
  keys.reserve(due.size());
  for (const auto& [at, key] : due) keys.push_back(key);
  return keys;
}

int TimerSet::TimeoutMs(std::int64_t now_us, int max_ms, std::int64_t other_us) const {
  std::int64_t next = std::min(Next(), other_us);
  if (next == kNever) return max_ms;
  return static_cast<int>(std::clamp<std::int64_t>((next - now_us + 999) / 1000, 0, max_ms));
}

}  // namespace drover
