// EventHub: droverd's live event stream. Job, process and schedule events (JSON lines, see
// jobs/event_gate.h) go to every reader following GET /events, as one chunked HTTP response each;
// the last kEventHistory events are kept for readers that just look. A reader that does not keep
// up never slows droverd: past kMaxReaderBacklog of unsent bytes its events are dropped and
// counted, and it is told how many ({"kind":"stream","event":"lost","count":N}) once it catches
// up. Opens the EventGate while anyone follows. Not thread-safe (the supervisor's loop).
#ifndef DROVER_SUPERVISOR_HTTP_EVENT_HUB_H_
#define DROVER_SUPERVISOR_HTTP_EVENT_HUB_H_

#include <cstdint>
#include <deque>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "jobs/event_gate.h"
#include "supervisor/control_server.h"

namespace drover {

inline constexpr size_t kEventHistory = 1000;
inline constexpr size_t kMaxReaderBacklog = 256 << 10;

// Which events a reader wants: those whose fields equal every one set.
struct EventFilter {
  std::optional<std::string> type;   // the job type
  std::optional<std::string> queue;  // the job's queue
  std::optional<std::string> event;  // an event name ("failed") or a kind ("process")
  // From the query of GET /events (?type=T&queue=Q&event=E&follow=1); InvalidArgument naming a
  // parameter it does not know.
  static Result<EventFilter> FromQuery(const std::string& query, bool* follow);
};

class EventHub {
 public:
  EventHub(ControlServer* server, EventGate* gate) : server_(server), gate_(gate) {}

  // Answers GET /events: the kept events that match, then (with `follow`) new ones as they come.
  // Returns the whole response when not following, else nullopt (the answer streams).
  std::optional<std::string> Open(ControlServer::ClientRef client, const EventFilter& filter, bool follow);

  // One event (its JSON, without a newline).
  void Publish(std::string event_json);

  // Sends what is pending and forgets readers that left; each turn of the loop.
  void Flush();

  // Ends every stream (droverd stops).
  void Close();

  size_t readers() const { return readers_.size(); }

 private:
  struct Reader {
    ControlServer::ClientRef client;
    EventFilter filter;
    std::string pending;
    std::int64_t lost = 0;
  };
  struct Event {
    std::string json;
    std::map<std::string, std::string> keys;  // type, queue, event, kind: what filters look at
  };
  static bool Matches(const EventFilter& f, const Event& e);
  void UpdateGate() { gate_->Set(!readers_.empty()); }

  ControlServer* server_;
  EventGate* gate_;
  std::deque<Event> history_;
  std::vector<Reader> readers_;
};

}  // namespace drover

#endif  // DROVER_SUPERVISOR_HTTP_EVENT_HUB_H_
