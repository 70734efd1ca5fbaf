#include "jobs/schedule.h"

#include "common/duration.h"
#include "common/time_util.h"

namespace drover {

Result<Timetable> Timetable::FromConfig(const ScheduleConfig& s) {
  if (!s.cron.empty()) {
    Result<CronExpr> cron = CronExpr::Parse(s.cron);
    if (!cron.ok()) return cron.status().Prefixed("schedule " + s.name);
    Result<TimeZone> zone = TimeZone::Load(s.timezone);
    if (!zone.ok()) return zone.status().Prefixed("schedule " + s.name);
    return Timetable(std::move(cron).value(), std::move(zone).value(), 0, 0,
                     "cron " + s.cron + " in " + s.timezone);
  }
  if (s.every.count() <= 0)
    return Status::InvalidArgument("schedule " + s.name + ": `every` must be positive");
  const std::int64_t anchor = s.anchor_ms.value_or(0);
  return Timetable(std::nullopt, std::nullopt, s.every.count(), anchor,
                   "every " + FormatDuration(s.every) + " from " + FormatRfc3339(anchor));
}

std::optional<std::int64_t> Timetable::Next(std::int64_t after_ms) const {
  if (cron_) {
    // Cron slots are whole minutes: the first one after `after_ms` is the first after its second.
    std::int64_t after_s = after_ms >= 0 ? after_ms / 1000 : -((-after_ms + 999) / 1000);
    std::optional<std::int64_t> t = cron_->Next(after_s, *zone_);
    if (!t) return std::nullopt;
    return *t * 1000;
  }
  // Slots are anchor + k * every for every integer k, before the anchor as well as after it.
  std::int64_t k = (after_ms - anchor_ms_) / every_ms_;
  if (after_ms - anchor_ms_ < 0 && (after_ms - anchor_ms_) % every_ms_ != 0) --k;  // floor division
  return anchor_ms_ + (k + 1) * every_ms_;
}

EnqueueRequest ScheduledRun(const ScheduleConfig& s, const JobTypeConfig& type, std::int64_t slot_ms) {
  EnqueueRequest r;
  r.type = s.job;
  r.payload = s.payload;
  r.queue = type.queue;
  r.priority = type.priority;
  if (!s.resource.empty()) r.resource = s.resource;
  r.max_attempts = type.max_attempts;
  r.unique_key = "schedule:" + s.name + ":" + FormatRfc3339(slot_ms);
  return r;
}

}  // namespace drover
