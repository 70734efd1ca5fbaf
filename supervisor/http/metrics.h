// Metrics: what GET /metrics answers, in the Prometheus text format (prometheus-cpp's registry and
// serializer). Job counts and histograms are the workers' tallies added up here, in the
// supervisor, so a worker that dies or is recycled takes nothing with it; queue, schedule and
// process figures are read when scraped. Every label's values are bounded: the configured queues
// and types, then at most kMaxExtraLabelValues others, then "other". Not thread-safe (one loop).
#ifndef DROVER_SUPERVISOR_HTTP_METRICS_H_
#define DROVER_SUPERVISOR_HTTP_METRICS_H_

#include <prometheus/counter.h>
#include <prometheus/family.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>

#include <cstdint>
#include <deque>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "common/config.h"
#include "jobs/job.h"
#include "jobs/job_tally.h"

namespace drover {

inline constexpr size_t kMaxExtraLabelValues = 50;

// A label's values: the known ones, and the first kMaxExtraLabelValues others seen.
class LabelValues {
 public:
  void SetKnown(std::set<std::string> known) { known_ = std::move(known); }
  // `value`, or "other" once too many unknown values were seen.
  std::string Bound(const std::string& value);

 private:
  std::set<std::string> known_, extra_;
};

// Jobs that ended in one minute, for the dashboard's chart.
struct MinuteCounts {
  std::int64_t minute_ms = 0;
  std::int64_t succeeded = 0;
  std::int64_t failed = 0;  // failed, retried, expired, cancelled, interrupted
};

class Metrics {
 public:
  // Figures read at scrape time.
  struct Process {
    std::string name;
    bool up = false;
    int restarts = 0;
    struct Runner {
      std::string name;
      bool ready = false;
      std::int64_t failures = 0;  // failed starts in a row
    };
    std::vector<Runner> runners;
  };
  struct Snapshot {
    std::vector<QueueStats> queues;
    std::vector<ScheduleState> schedules;
    std::vector<Process> processes;
    std::int64_t now_ms = 0;
  };

  // `types`: job types with a handler in this program, besides the configured ones.
  Metrics(const Config& config, const std::set<std::string>& types);

  // After a reload: the configuration's queues and types are known label values.
  void Configure(const Config& config, const std::set<std::string>& types);

  void AddTally(const JobTally::Key& key, const TallyEntry& entry);
  void AddMissed(const std::string& schedule, std::int64_t count);
  void AddRecovered(std::int64_t count);

  // The last 60 minutes up to `now_ms`'s, oldest first (minutes without jobs too).
  std::vector<MinuteCounts> LastHour(std::int64_t now_ms) const;

  // The exposition: everything counted so far, and `now`.
  std::string Render(const Snapshot& now);

 private:
  prometheus::Registry registry_;
  prometheus::Family<prometheus::Counter>& jobs_total_;
  prometheus::Family<prometheus::Histogram>& duration_;
  prometheus::Family<prometheus::Histogram>& wait_;
  prometheus::Family<prometheus::Counter>& missed_;
  prometheus::Counter& recovered_;
  LabelValues queues_, types_, schedules_;
  std::deque<MinuteCounts> minutes_;  // the last hour's, oldest first; only minutes with jobs
};

}  // namespace drover

#endif  // DROVER_SUPERVISOR_HTTP_METRICS_H_
