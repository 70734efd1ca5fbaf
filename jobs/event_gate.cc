#include "jobs/event_gate.h"

#include <sys/mman.h>

#include "common/time_util.h"

namespace drover {

EventGate::~EventGate() {
  if (word_) munmap(word_, sizeof *word_);
}

EventGate& EventGate::operator=(EventGate&& other) noexcept {
  if (this != &other) {
    if (word_) munmap(word_, sizeof *word_);
    word_ = other.word_;
    other.word_ = nullptr;
  }
  return *this;
}

Result<EventGate> EventGate::Create() {
  void* p = mmap(nullptr, sizeof(std::atomic<std::uint32_t>), PROT_READ | PROT_WRITE,
                 MAP_SHARED | MAP_ANONYMOUS, -1, 0);
  if (p == MAP_FAILED) return Status::FromErrno("mmap (event gate)");
  EventGate g;
  g.word_ = new (p) std::atomic<std::uint32_t>(0);
  return g;
}

std::string EventJson(std::string_view kind, std::string_view event, nlohmann::json fields) {
  fields["at"] = NowMs();
  fields["kind"] = kind;
  fields["event"] = event;
  // Replacement of bad UTF-8: queue, type and messages come from the store and may hold any bytes.
  return fields.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

}  // namespace drover
