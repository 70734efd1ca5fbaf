// TimerSet: the deadlines of one event loop on the monotonic clock (microseconds), each named
// by a key: a kind and a subject (a job id, a child, or 0). The loop sleeps until Next() and
// then handles what TakeDue() returns, so what it waits for and what it runs cannot disagree.
// Not thread-safe.
#ifndef DROVER_COMMON_TIMER_SET_H_
#define DROVER_COMMON_TIMER_SET_H_

#include <cstdint>
#include <limits>
#include <map>
#include <utility>
#include <vector>

namespace drover {

class TimerSet {
 public:
  struct Key {
    int kind = 0;
    std::int64_t subject = 0;
    auto operator<=>(const Key&) const = default;
  };
  static constexpr std::int64_t kNever = std::numeric_limits<std::int64_t>::max();

  // Arms `key` for `at_us`, replacing its earlier deadline.
  void Set(Key key, std::int64_t at_us) { deadlines_[key] = at_us; }
  // Arms `key` for `at_us` unless it is armed for earlier.
  void SetEarliest(Key key, std::int64_t at_us);
  void Clear(Key key) { deadlines_.erase(key); }
  bool Armed(Key key) const { return deadlines_.count(key) != 0; }
  // The earliest deadline, or kNever.
  std::int64_t Next() const;
  // Disarms and returns the keys due at `now_us`, earliest first.
  std::vector<Key> TakeDue(std::int64_t now_us);
  // epoll/poll timeout until the earliest of Next() and `other_us`: milliseconds rounded up,
  // within [0, max_ms].
  int TimeoutMs(std::int64_t now_us, int max_ms, std::int64_t other_us = kNever) const;

 private:
  std::map<Key, std::int64_t> deadlines_;  // a handful: scanned, not indexed by time
};

}  // namespace drover

#endif  // DROVER_COMMON_TIMER_SET_H_
