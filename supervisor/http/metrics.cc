#include "supervisor/http/metrics.h"

#include <prometheus/text_serializer.h>

#include <sstream>

#include "common/time_util.h"

namespace drover {

using prometheus::ClientMetric;
using prometheus::MetricFamily;
using prometheus::MetricType;

std::string LabelValues::Bound(const std::string& value) {
  if (known_.count(value) || extra_.count(value)) return value;
  if (extra_.size() >= kMaxExtraLabelValues) return "other";
  extra_.insert(value);
  return value;
}

namespace {

const prometheus::Histogram::BucketBoundaries& Boundaries() {
  static const prometheus::Histogram::BucketBoundaries b(kJobSecondsBuckets.begin(),
                                                         kJobSecondsBuckets.end());
  return b;
}

void Add(prometheus::Histogram& h, const BucketCounts& b) {
  if (b.empty()) return;
  std::vector<double> increments(b.counts.begin(), b.counts.end());
  h.ObserveMultiple(increments, b.sum);
}

MetricFamily Family(std::string name, std::string help, MetricType type) {
  MetricFamily f;
  f.name = std::move(name);
  f.help = std::move(help);
  f.type = type;
  return f;
}

ClientMetric Sample(std::vector<prometheus::ClientMetric::Label> labels, double value, MetricType type) {
  ClientMetric m;
  m.label = std::move(labels);
  if (type == MetricType::Counter) {
    m.counter.value = value;
  } else {
    m.gauge.value = value;
  }
  return m;
}

}  // namespace

Metrics::Metrics(const Config& config, const std::set<std::string>& types)
    : jobs_total_(prometheus::BuildCounter()
                      .Name("drover_jobs_total")
                      .Help("Attempts that ended, by queue, type and outcome")
                      .Register(registry_)),
      duration_(prometheus::BuildHistogram()
                    .Name("drover_job_duration_seconds")
                    .Help("How long attempts ran, from start to end")
                    .Register(registry_)),
      wait_(prometheus::BuildHistogram()
                .Name("drover_job_wait_seconds")
                .Help("How long jobs waited to start, from enqueue or run_at, whichever is later")
                .Register(registry_)),
      missed_(prometheus::BuildCounter()
                  .Name("drover_schedule_missed_total")
                  .Help("Due schedule slots that did not run (missed while down, paused, or overlapping)")
                  .Register(registry_)),
      recovered_(prometheus::BuildCounter()
                     .Name("drover_jobs_recovered_total")
                     .Help("Running jobs re-queued because their worker died")
                     .Register(registry_)
                     .Add({})) {
  Configure(config, types);
}

void Metrics::Configure(const Config& config, const std::set<std::string>& types) {
  std::set<std::string> queues, all_types = types, schedules;
  for (const auto& [_, pool] : config.pools) queues.insert(pool.queues.begin(), pool.queues.end());
  for (const auto& [name, _] : config.jobs) all_types.insert(name);
  for (const auto& [name, _] : config.schedules) schedules.insert(name);
  queues_.SetKnown(std::move(queues));
  types_.SetKnown(std::move(all_types));
  schedules_.SetKnown(std::move(schedules));
}

void Metrics::AddTally(const JobTally::Key& key, const TallyEntry& e) {
  const std::string queue = queues_.Bound(key.first), type = types_.Bound(key.second);
  for (int i = 0; i < kJobOutcomeCount; ++i) {
    if (e.outcomes[i] == 0) continue;
    jobs_total_.Add({{"queue", queue}, {"type", type}, {"outcome", std::string(kJobOutcomeNames[i])}})
        .Increment(static_cast<double>(e.outcomes[i]));
  }
  Add(duration_.Add({{"queue", queue}, {"type", type}}, Boundaries()), e.duration);
  std::int64_t succeeded = e.outcomes[static_cast<int>(JobOutcome::kSucceeded)], all = 0;
  for (std::int64_t n : e.outcomes) all += n;
  if (all > 0) {
    const std::int64_t minute = NowMs() / 60'000 * 60'000;
    if (minutes_.empty() || minutes_.back().minute_ms != minute) minutes_.push_back({minute, 0, 0});
    minutes_.back().succeeded += succeeded;
    minutes_.back().failed += all - succeeded;
    while (minutes_.front().minute_ms <= minute - 3'600'000) minutes_.pop_front();
  }
  Add(wait_.Add({{"queue", queue}, {"type", type}}, Boundaries()), e.wait);
}

std::vector<MinuteCounts> Metrics::LastHour(std::int64_t now_ms) const {
  std::vector<MinuteCounts> out;
  const std::int64_t last = now_ms / 60'000 * 60'000;
  auto it = minutes_.begin();
  for (std::int64_t m = last - 59 * 60'000; m <= last; m += 60'000) {
    while (it != minutes_.end() && it->minute_ms < m) ++it;
    out.push_back(it != minutes_.end() && it->minute_ms == m ? *it : MinuteCounts{m, 0, 0});
  }
  return out;
}

void Metrics::AddMissed(const std::string& schedule, std::int64_t count) {
  missed_.Add({{"schedule", schedules_.Bound(schedule)}}).Increment(static_cast<double>(count));
}

void Metrics::AddRecovered(std::int64_t count) { recovered_.Increment(static_cast<double>(count)); }

std::string Metrics::Render(const Snapshot& now) {
  std::vector<MetricFamily> families = registry_.Collect();

  MetricFamily depth =
      Family("drover_queue_jobs", "Jobs in the store, by queue and state", MetricType::Gauge);
  MetricFamily oldest = Family("drover_queue_oldest_age_seconds",
                               "Age of the oldest job ready to run (0: none waits)", MetricType::Gauge);
  MetricFamily paused = Family("drover_queue_paused", "1 when the queue is paused", MetricType::Gauge);
  for (const QueueStats& q : now.queues) {
    const std::string queue = queues_.Bound(q.queue);
    for (const JobStateInfo& s : kJobStates) {
      depth.metric.push_back(Sample({{"queue", queue}, {"state", std::string(s.name)}},
                                    static_cast<double>(q.counts[static_cast<int>(s.state)]),
                                    MetricType::Gauge));
    }
    double age = q.oldest_ready_ms
                     ? static_cast<double>(std::max<std::int64_t>(0, now.now_ms - *q.oldest_ready_ms)) / 1000
                     : 0;
    oldest.metric.push_back(Sample({{"queue", queue}}, age, MetricType::Gauge));
    paused.metric.push_back(Sample({{"queue", queue}}, q.paused ? 1 : 0, MetricType::Gauge));
  }

  MetricFamily last_run = Family("drover_schedule_last_run_timestamp_seconds",
                                 "The time slot of the schedule's last run", MetricType::Gauge);
  for (const ScheduleState& s : now.schedules) {
    if (!s.last_run_ms) continue;
    last_run.metric.push_back(Sample({{"schedule", schedules_.Bound(s.name)}},
                                     static_cast<double>(*s.last_run_ms) / 1000, MetricType::Gauge));
  }

  MetricFamily up = Family("drover_process_up", "1 while the process runs", MetricType::Gauge);
  MetricFamily restarts =
      Family("drover_process_restarts_total", "Unexpected exits of the process, each followed by a restart",
             MetricType::Counter);
  MetricFamily runner_ready = Family(
      "drover_runner_ready", "1 while the worker's runner has said hello and takes jobs", MetricType::Gauge);
  MetricFamily runner_failures =
      Family("drover_runner_failed_starts",
             "Failed starts in a row of the worker's runner (its jobs wait, uncharged, while it cools off)",
             MetricType::Gauge);
  for (const Process& p : now.processes) {
    up.metric.push_back(Sample({{"name", p.name}}, p.up ? 1 : 0, MetricType::Gauge));
    restarts.metric.push_back(Sample({{"name", p.name}}, p.restarts, MetricType::Counter));
    for (const Process::Runner& r : p.runners) {
      runner_ready.metric.push_back(
          Sample({{"process", p.name}, {"runner", r.name}}, r.ready ? 1 : 0, MetricType::Gauge));
      runner_failures.metric.push_back(Sample({{"process", p.name}, {"runner", r.name}},
                                              static_cast<double>(r.failures), MetricType::Gauge));
    }
  }

  MetricFamily build =
      Family("drover_build_info", "Always 1; the labels describe this droverd", MetricType::Gauge);
  build.metric.push_back(Sample({{"version", DROVER_VERSION}}, 1, MetricType::Gauge));

  for (MetricFamily* f :
       {&depth, &oldest, &paused, &last_run, &up, &restarts, &runner_ready, &runner_failures, &build}) {
    if (!f->metric.empty()) families.push_back(std::move(*f));
  }
  std::ostringstream out;
  prometheus::TextSerializer().Serialize(out, families);
  return out.str();
}

}  // namespace drover
