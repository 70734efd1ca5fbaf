#include "jobs/job.h"

namespace drover {

namespace {
constexpr std::string_view kNames[] = {"queued", "running", "succeeded", "failed", "cancelled", "expired"};
}

std::string_view JobStateName(JobState state) { return kNames[static_cast<int>(state)]; }

std::optional<JobState> ParseJobState(std::string_view name) {
  for (int i = 0; i < 6; ++i) {
    if (kNames[i] == name) return static_cast<JobState>(i);
  }
  return std::nullopt;
}

}  // namespace drover
