// EventGate: whether anyone follows droverd's event stream (droverctl events, the dashboard). One
// word of shared memory that the supervisor maps before it forks and opens or closes as readers
// come and go; its children read it, so a worker formats job events only while someone listens.
// Fork-safe by design (the mapping is inherited); reads and writes are atomic.
#ifndef DROVER_JOBS_EVENT_GATE_H_
#define DROVER_JOBS_EVENT_GATE_H_

#include <atomic>
#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>

#include "common/status.h"

namespace drover {

class EventGate {
 public:
  EventGate() = default;  // none: never open
  ~EventGate();
  EventGate(EventGate&& other) noexcept : word_(other.word_) { other.word_ = nullptr; }
  EventGate& operator=(EventGate&& other) noexcept;
  EventGate(const EventGate&) = delete;
  EventGate& operator=(const EventGate&) = delete;

  // Maps the shared word, closed; IoError when mmap fails.
  static Result<EventGate> Create();

  bool open() const { return word_ && word_->load(std::memory_order_relaxed) != 0; }
  void Set(bool open) {
    if (word_) word_->store(open ? 1 : 0, std::memory_order_relaxed);
  }

 private:
  std::atomic<std::uint32_t>* word_ = nullptr;
};

// One event as the stream carries it, a line of JSON without its newline: an object with "at"
// (ms since the epoch), "kind" (job, process, schedule or stream), "event", and `fields`' members.
std::string EventJson(std::string_view kind, std::string_view event,
                      nlohmann::json fields = nlohmann::json::object());

}  // namespace drover

#endif  // DROVER_JOBS_EVENT_GATE_H_
