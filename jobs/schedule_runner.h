// Runs the [schedules] of a config against the job store: keeps their stored state in step
// with the config and enqueues each due run, deciding catch-up and overlap. Lives in the
// scheduler process. Not thread-safe.
#ifndef DROVER_JOBS_SCHEDULE_RUNNER_H_
#define DROVER_JOBS_SCHEDULE_RUNNER_H_

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "common/config.h"
#include "jobs/schedule.h"
#include "jobs/store/job_store.h"

namespace drover {

class ScheduleRunner {
 public:
  // At most this many missed runs are enqueued for one schedule with catch_up = "all".
  static constexpr int kMaxCatchUp = 100;

  // Told of each schedule handled: the jobs it enqueued and how many due slots did not run
  // (missed while drover was down, or skipped: paused, overlap).
  using Handled = std::function<void(const ScheduleConfig& s, const std::vector<EnqueueResult>& runs,
                                     std::int64_t missed)>;

  ScheduleRunner(const Config& config, JobStore* store, Handled handled = nullptr)
      : config_(config), store_(store), handled_(std::move(handled)) {}

  // Builds the timetables and stores the schedules: a new one is due at its first slot after
  // `now_ms`, one whose timing changed likewise; the others keep their next run, so runs missed
  // while drover was down are caught up. Fails when the store cannot be written (logged by the
  // caller); a schedule with a bad timetable is logged and left out.
  Status Start(std::int64_t now_ms);

  // Enqueues (or skips) every slot that is due at `now_ms`. Returns when to call again: the
  // earliest next run of any schedule (nullopt: none ever). Only this runner moves next runs,
  // so nothing is due before then. Errors are logged; the slot stays due and is tried again a
  // second later.
  std::optional<std::int64_t> RunDue(std::int64_t now_ms);

 private:
  // Handles the due slot(s) of one schedule; returns its next run as now stored.
  std::int64_t Handle(const ScheduleConfig& s, const Timetable& t, const ScheduleState& st,
                      std::int64_t now_ms);

  const Config& config_;
  JobStore* store_;
  Handled handled_;
  std::map<std::string, Timetable> timetables_;
};

}  // namespace drover

#endif  // DROVER_JOBS_SCHEDULE_RUNNER_H_
