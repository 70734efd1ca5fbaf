#include "jobs/job.h"

#include <map>

#include "common/escape.h"
#include "common/json_util.h"

namespace drover {

std::optional<JobState> ParseJobState(std::string_view name) {
  for (const JobStateInfo& s : kJobStates) {
    if (s.name == name) return s.state;
  }
  return std::nullopt;
}

std::vector<RunningLimit> RunningLimitsFor(const Config& config) {
  std::vector<RunningLimit> out;
  std::map<std::string, RunningLimit> shared;
  for (const auto& [type, j] : config.jobs) {
    if (j.max_running > 0) out.push_back({"[jobs." + type + "] max_running", {type}, j.max_running, false});
    if (j.max_running_per_resource > 0) {
      out.push_back(
          {"[jobs." + type + "] max_running_per_resource", {type}, j.max_running_per_resource, true});
    }
    if (!j.limit.empty()) {
      auto it = config.limits.find(j.limit);
      if (it == config.limits.end()) continue;  // refused by the configuration's checks
      RunningLimit& l = shared[j.limit];
      l.name = "[limits." + j.limit + "] max_running";
      l.max_running = it->second.max_running;
      l.types.push_back(type);
    }
  }
  for (auto& [_, l] : shared) out.push_back(std::move(l));
  return out;
}

std::vector<JobTypeDefaults> JobTypeDefaultsOf(const Config& config) {
  std::vector<JobTypeDefaults> out;
  for (const auto& [type, j] : config.jobs)
    out.push_back({type, j.queue, j.priority, j.max_attempts, j.unique});
  return out;
}

std::string_view BulkActionName(BulkAction a) {
  switch (a) {
    case BulkAction::kCancel:
      return "cancel";
    case BulkAction::kRetry:
      return "retry";
    case BulkAction::kDelete:
      return "delete";
  }
  return "?";
}

Result<std::vector<JobState>> SelectedStates(BulkAction action, const JobSelector& which) {
  auto takes = [action](JobState s) {
    switch (action) {
      case BulkAction::kCancel:
        return s == JobState::kQueued || s == JobState::kRunning;
      case BulkAction::kRetry:
        return s == JobState::kFailed || s == JobState::kCancelled || s == JobState::kExpired;
      case BulkAction::kDelete:
        return s != JobState::kRunning;
    }
    return false;
  };
  std::vector<JobState> out;
  for (JobState s : which.states) {
    if (!takes(s)) {
      return Status::InvalidArgument(std::string(BulkActionName(action)) + " cannot take " +
                                     std::string(JobStateName(s)) + " jobs");
    }
    out.push_back(s);
  }
  if (out.empty()) {
    for (const JobStateInfo& s : kJobStates) {
      if (takes(s.state)) out.push_back(s.state);
    }
  }
  return out;
}

Status ValidateEnqueueRequest(const EnqueueRequest& r) {
  if (r.type.empty()) return Status::InvalidArgument("job type must not be empty");
  if (r.queue.empty()) return Status::InvalidArgument("queue must not be empty");
  if (r.unique_key && r.unique_key->empty()) return Status::InvalidArgument("unique key must not be empty");
  if (r.resource && r.resource->empty()) return Status::InvalidArgument("resource must not be empty");
  if (r.resource && r.resource->size() > kMaxResourceBytes) {
    return Status::InvalidArgument("resource is " + std::to_string(r.resource->size()) +
                                   " bytes; the limit is " + std::to_string(kMaxResourceBytes));
  }
  if (r.max_attempts < 1 || r.max_attempts > kMaxAttempts) {
    return Status::InvalidArgument("max_attempts must be from 1 to " + std::to_string(kMaxAttempts) +
                                   " (got " + std::to_string(r.max_attempts) + ")");
  }
  if (r.priority < -kMaxPriority || r.priority > kMaxPriority) {
    return Status::InvalidArgument("priority must be from -" + std::to_string(kMaxPriority) + " to " +
                                   std::to_string(kMaxPriority) + " (got " + std::to_string(r.priority) +
                                   ")");
  }
  for (auto [name, t] : {std::pair{"run_at", r.run_at_ms}, std::pair{"expires_at", r.expires_at_ms}}) {
    if (t && (*t < 0 || *t > kMaxTimeMs)) {
      return Status::InvalidArgument(std::string(name) +
                                     " must be a time from 1970 to the end of 9999 (got " +
                                     std::to_string(*t) + " ms since the epoch)");
    }
  }
  if (r.payload.size() > kMaxPayloadBytes) {
    return Status::InvalidArgument("payload is " + std::to_string(r.payload.size()) +
                                   " bytes; the limit is " + std::to_string(kMaxPayloadBytes) +
                                   " (store large data elsewhere and pass a reference)");
  }
  return ValidateJson(r.payload, "payload");
}

std::string HistoryError(const std::string& error) {
  constexpr size_t kMax = 4096;
  if (error.size() <= kMax) return error;
  return std::string(Utf8Prefix(error, kMax)) + "…[truncated]";
}

}  // namespace drover
