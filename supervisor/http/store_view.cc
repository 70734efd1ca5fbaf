#include "supervisor/http/store_view.h"

#include <nlohmann/json.hpp>

namespace drover {

using json = nlohmann::json;

std::string StoreViewJson(const StoreView& v) {
  json queues = json::array(), schedules = json::array();
  for (const QueueStats& q : v.queues) {
    json counts = json::array();
    for (std::int64_t n : q.counts) counts.push_back(n);
    queues.push_back({{"queue", q.queue},
                      {"paused", q.paused},
                      {"counts", counts},
                      {"oldest_ready_ms", q.oldest_ready_ms ? json(*q.oldest_ready_ms) : json()},
                      {"last_minute", q.finished_last_minute},
                      {"last_5_minutes", q.finished_last_5_minutes}});
  }
  for (const ScheduleState& s : v.schedules) {
    schedules.push_back({{"name", s.name},
                         {"next_run_ms", s.next_run_ms},
                         {"last_run_ms", s.last_run_ms ? json(*s.last_run_ms) : json()},
                         {"paused", s.paused}});
  }
  return json{{"read_us", v.read_us}, {"queues", queues}, {"schedules", schedules}}.dump(
      -1, ' ', false, json::error_handler_t::replace);
}

Result<StoreView> ParseStoreView(std::string_view text) {
  try {
    json j = json::parse(text);
    StoreView v;
    v.read_us = j.at("read_us").get<std::int64_t>();
    for (const json& q : j.at("queues")) {
      QueueStats s;
      s.queue = q.at("queue").get<std::string>();
      s.paused = q.at("paused").get<bool>();
      const json& counts = q.at("counts");
      if (!counts.is_array() || counts.size() != kJobStateCount) return Status::InvalidArgument("bad counts");
      for (int i = 0; i < kJobStateCount; ++i) s.counts[i] = counts[i].get<std::int64_t>();
      if (!q.at("oldest_ready_ms").is_null()) s.oldest_ready_ms = q["oldest_ready_ms"].get<std::int64_t>();
      s.finished_last_minute = q.at("last_minute").get<std::int64_t>();
      s.finished_last_5_minutes = q.at("last_5_minutes").get<std::int64_t>();
      v.queues.push_back(std::move(s));
    }
    for (const json& s : j.at("schedules")) {
      ScheduleState st;
      st.name = s.at("name").get<std::string>();
      st.next_run_ms = s.at("next_run_ms").get<std::int64_t>();
      if (!s.at("last_run_ms").is_null()) st.last_run_ms = s["last_run_ms"].get<std::int64_t>();
      st.paused = s.at("paused").get<bool>();
      v.schedules.push_back(std::move(st));
    }
    return v;
  } catch (const json::exception& e) {
    return Status::InvalidArgument(std::string("store view: ") + e.what());
  }
}

}  // namespace drover
