// StoreView: the queue and schedule figures that /metrics, the overview and the queues page show.
// Counting a large job table takes a while (1.5 s at 1,000,000 rows on SQLite), so droverd reads
// them in a short-lived child process (Supervisor::RefreshStoreView) that sends them back as one
// JSON text; droverd's loop never waits for the query. Pure; thread-safe.
#ifndef DROVER_SUPERVISOR_HTTP_STORE_VIEW_H_
#define DROVER_SUPERVISOR_HTTP_STORE_VIEW_H_

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"
#include "jobs/job.h"

namespace drover {

struct StoreView {
  std::int64_t read_us = 0;  // MonotonicUs() when its reading began
  std::vector<QueueStats> queues;
  std::vector<ScheduleState> schedules;  // name, next and last run, paused
};

std::string StoreViewJson(const StoreView& v);
// InvalidArgument when `text` is not what StoreViewJson writes.
Result<StoreView> ParseStoreView(std::string_view text);

}  // namespace drover

#endif  // DROVER_SUPERVISOR_HTTP_STORE_VIEW_H_
