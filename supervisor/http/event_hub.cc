#include "supervisor/http/event_hub.h"

#include <nlohmann/json.hpp>

#include "supervisor/http/url.h"
#include "supervisor/http_request.h"

namespace drover {

Result<EventFilter> EventFilter::FromQuery(const std::string& query, bool* follow) {
  EventFilter f;
  *follow = false;
  for (const auto& [name, value] : ParseForm(query)) {
    if (name == "type") {
      f.type = value;
    } else if (name == "queue") {
      f.queue = value;
    } else if (name == "event") {
      f.event = value;
    } else if (name == "follow") {
      *follow = value == "1" || value == "true";
    } else {
      return Status::InvalidArgument("unknown parameter \"" + name + "\" (type, queue, event, follow)");
    }
  }
  return f;
}

bool EventHub::Matches(const EventFilter& f, const Event& e) {
  auto has = [&](const char* key, const std::string& want) {
    auto it = e.keys.find(key);
    return it != e.keys.end() && it->second == want;
  };
  if (f.type && !has("type", *f.type)) return false;
  if (f.queue && !has("queue", *f.queue)) return false;
  if (f.event && !has("event", *f.event) && !has("kind", *f.event)) return false;
  return true;
}

std::optional<std::string> EventHub::Open(ControlServer::ClientRef client, const EventFilter& filter,
                                          bool follow) {
  std::string body;
  for (const Event& e : history_) {
    if (Matches(filter, e)) body += e.json + "\n";
  }
  if (!follow) return HttpResponse(200, "application/x-ndjson", body);
  std::string head =
      "HTTP/1.1 200 OK\r\nServer: droverd\r\nContent-Type: application/x-ndjson\r\n"
      "Cache-Control: no-store\r\nTransfer-Encoding: chunked\r\n\r\n";
  if (!body.empty()) head += HttpChunk(body);
  if (!server_->Send(client, head, false)) return std::nullopt;
  readers_.push_back({client, filter, "", 0});
  UpdateGate();
  return std::nullopt;
}

void EventHub::Publish(std::string event_json) {
  Event e;
  nlohmann::json j = nlohmann::json::parse(event_json, nullptr, false);
  if (!j.is_object()) return;  // never from our own processes
  for (const char* key : {"type", "queue", "event", "kind"}) {
    if (j.contains(key) && j[key].is_string()) e.keys[key] = j[key].get<std::string>();
  }
  e.json = std::move(event_json);
  for (Reader& r : readers_) {
    if (!Matches(r.filter, e)) continue;
    if (server_->Unsent(r.client) + r.pending.size() > kMaxReaderBacklog) {
      ++r.lost;
    } else {
      r.pending += e.json + "\n";
    }
  }
  history_.push_back(std::move(e));
  if (history_.size() > kEventHistory) history_.pop_front();
}

void EventHub::Close() {
  Flush();
  for (const Reader& r : readers_) server_->Send(r.client, "0\r\n\r\n", true);
  readers_.clear();
  UpdateGate();
}

void EventHub::Flush() {
  bool changed = false;
  for (size_t i = 0; i < readers_.size();) {
    Reader& r = readers_[i];
    if (r.lost > 0 && server_->Unsent(r.client) < kMaxReaderBacklog / 2) {
      r.pending += EventJson("stream", "lost", {{"count", r.lost}}) + "\n";
      r.lost = 0;
    }
    // An empty chunk would end the response.
    bool alive = r.pending.empty() ? server_->Awaiting(r.client)
                                   : server_->Send(r.client, HttpChunk(r.pending), false);
    r.pending.clear();
    if (!alive) {
      readers_.erase(readers_.begin() + static_cast<std::ptrdiff_t>(i));
      changed = true;
      continue;
    }
    ++i;
  }
  if (changed) UpdateGate();
}

}  // namespace drover
