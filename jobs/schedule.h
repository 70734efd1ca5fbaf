// The timetable of one [schedules.NAME] entry (cron in a time zone, or every N from an anchor)
// and the job each of its runs enqueues. Immutable after construction; thread-safe.
#ifndef DROVER_JOBS_SCHEDULE_H_
#define DROVER_JOBS_SCHEDULE_H_

#include <cstdint>
#include <optional>
#include <string>

#include "common/config.h"
#include "common/cron.h"
#include "common/status.h"
#include "common/time_zone.h"
#include "jobs/job.h"

namespace drover {

class Timetable {
 public:
  // Fails with InvalidArgument/NotFound for a bad cron expression or time zone (the config
  // loader has already rejected those, so this only fails for hand-made configs).
  static Result<Timetable> FromConfig(const ScheduleConfig& s);

  // The first slot (epoch ms) strictly after `after_ms`; nullopt if there is none.
  std::optional<std::int64_t> Next(std::int64_t after_ms) const;
  // The timing in one line ("cron 0 3 * * * in Europe/Berlin", "every 1h from …"): stored
  // beside the schedule so that a changed timing resets its next run.
  const std::string& spec() const { return spec_; }

 private:
  Timetable(std::optional<CronExpr> cron, std::optional<TimeZone> zone, std::int64_t every_ms,
            std::int64_t anchor_ms, std::string spec)
      : cron_(std::move(cron)),
        zone_(std::move(zone)),
        every_ms_(every_ms),
        anchor_ms_(anchor_ms),
        spec_(std::move(spec)) {}

  std::optional<CronExpr> cron_;
  std::optional<TimeZone> zone_;
  std::int64_t every_ms_ = 0;
  std::int64_t anchor_ms_ = 0;
  std::string spec_;
};

// The job a run of `s` enqueues for the slot at `slot_ms`: the schedule's payload with the job
// type's queue, priority and attempts, and the unique key "schedule:NAME:<slot, RFC 3339>".
EnqueueRequest ScheduledRun(const ScheduleConfig& s, const JobTypeConfig& type, std::int64_t slot_ms);

}  // namespace drover

#endif  // DROVER_JOBS_SCHEDULE_H_
