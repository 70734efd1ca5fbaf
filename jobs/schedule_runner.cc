#include "jobs/schedule_runner.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <limits>
#include <vector>

#include "common/duration.h"
#include "common/time_util.h"

namespace drover {
namespace {

constexpr std::int64_t kNever = std::numeric_limits<std::int64_t>::max();
constexpr std::int64_t kRetryMs = 1000;  // after a failed read or write of the schedules

// How late a slot may be handled and still count as on time for catch_up = "none": a busy or
// briefly stalled scheduler must not drop the run it is about to make.
std::int64_t OnTimeGraceMs(const Config& c) {
  return std::max<std::int64_t>(60'000, 2 * c.scheduler.tick.count());
}

}  // namespace

Status ScheduleRunner::Start(std::int64_t now_ms) {
  std::vector<ScheduleSeed> seeds;
  for (const auto& [name, s] : config_.schedules) {
    Result<Timetable> t = Timetable::FromConfig(s);
    if (!t.ok()) {
      spdlog::error("{}; the schedule is not run", t.status().ToString());
      continue;
    }
    seeds.push_back({name, t->spec(), t->Next(now_ms).value_or(kNever)});
    timetables_.emplace(name, std::move(t).value());
  }
  return store_->SyncSchedules(seeds);
}

std::optional<std::int64_t> ScheduleRunner::RunDue(std::int64_t now_ms) {
  if (timetables_.empty()) return std::nullopt;
  Result<std::vector<ScheduleState>> states = store_->Schedules();
  if (!states.ok()) {
    spdlog::warn("{}", states.status().Prefixed("read schedules").ToString());
    return now_ms + kRetryMs;
  }
  std::optional<std::int64_t> earliest;
  for (const ScheduleState& st : *states) {
    auto t = timetables_.find(st.name);
    auto s = config_.schedules.find(st.name);
    if (t == timetables_.end() || s == config_.schedules.end()) continue;
    const std::int64_t next =
        st.next_run_ms <= now_ms ? Handle(s->second, t->second, st, now_ms) : st.next_run_ms;
    if (next != kNever) earliest = std::min(earliest.value_or(next), next);
  }
  return earliest;
}

std::int64_t ScheduleRunner::Handle(const ScheduleConfig& s, const Timetable& t, const ScheduleState& st,
                                    std::int64_t now_ms) {
  // The due slots, oldest first, the newest kMaxCatchUp of them.
  std::vector<std::int64_t> due;
  std::int64_t next = st.next_run_ms;
  for (int walked = 1; next <= now_ms; ++walked) {
    due.push_back(next);
    if (due.size() > static_cast<size_t>(kMaxCatchUp)) due.erase(due.begin());
    next = t.Next(next).value_or(kNever);
    // A frequent schedule after a long outage: skip ahead to the last hour rather than walk it all.
    if (walked == 10'000) next = std::max(next, t.Next(now_ms - 3'600'000).value_or(kNever));
  }
  const std::int64_t latest = due.back();
  const size_t missed = due.size() - 1;
  std::vector<std::int64_t> runs;
  std::string why;
  if (st.paused) {
    why = "the schedule is paused";
  } else if (!s.overlap && st.last_job_state && st.last_job_type == s.job &&
             (*st.last_job_state == JobState::kQueued || *st.last_job_state == JobState::kRunning)) {
    why = "its previous run (job " + std::to_string(*st.last_job_id) + ") is still " +
          std::string(JobStateName(*st.last_job_state)) + " and overlap = false";
  } else if (s.catch_up == "all" && s.overlap) {
    runs = due;
  } else if (s.catch_up == "none" && now_ms - latest > OnTimeGraceMs(config_)) {
    why = "it was missed while drover was down and catch_up = \"none\"";
  } else {
    runs = {latest};
  }
  const JobTypeConfig* type = config_.FindJob(s.job);
  if (type == nullptr) return kNever;  // the config loader guarantees it; never enqueue an unconfigured type
  std::vector<EnqueueRequest> requests;
  for (std::int64_t slot : runs) requests.push_back(ScheduledRun(s, *type, slot));
  Result<std::vector<EnqueueResult>> r =
      store_->AdvanceSchedule(s.name, st.next_run_ms, next, requests, latest);
  if (!r.ok()) {
    spdlog::warn("{}", r.status().ToString());
    return now_ms + kRetryMs;  // the slot stays due
  }
  for (size_t i = 0; i < r->size(); ++i) {
    spdlog::info("schedule {}: enqueued {} job {} for {}", s.name, s.job, (*r)[i].id, FormatRfc3339(runs[i]));
    if (const std::optional<std::int64_t> holder = (*r)[i].slot_key_holder) {
      spdlog::warn(
          "schedule {}: job {} holds the slot's key {} but is not a run of the schedule; the run is job {}, "
          "without the key",
          s.name, *holder, *requests[i].unique_key, (*r)[i].id);
    }
  }
  if (!why.empty())
    spdlog::info("schedule {}: skipped the run for {}: {}", s.name, FormatRfc3339(latest), why);
  if (missed > 0 && runs.size() <= 1) {
    spdlog::info("schedule {}: {} earlier slot(s) were missed (catch_up = \"{}\")", s.name, missed,
                 s.catch_up);
  }
  if (handled_) handled_(s, *r, static_cast<std::int64_t>(due.size() - r->size()));
  return next;
}

}  // namespace drover
