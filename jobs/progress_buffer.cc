#include "jobs/progress_buffer.h"

#include <spdlog/spdlog.h>

namespace drover {
namespace {
constexpr int kLoggedBadLines =
    10;  // per attempt: a job can write bad lines faster than a log should take them
}

void ProgressBuffer::AddStatusLines(std::int64_t job_id, const std::vector<std::string>& lines) {
  for (const std::string& line : lines) {
    Result<ProgressUpdate> u = ParseStatusLine(line);
    if (u.ok()) {
      Merge(std::move(u).value());
    } else if (++bad_lines_ <= kLoggedBadLines) {
      spdlog::warn(
          "job {}: ignoring status line: {}{}", job_id, u.status().ToString(),
          bad_lines_ == kLoggedBadLines ? " (further bad lines of this attempt are not logged)" : "");
    }
  }
}

void ProgressBuffer::Merge(ProgressUpdate u) {
  if (!pending_) pending_.emplace();
  if (u.progress) pending_->progress = u.progress;
  if (u.message) pending_->message = std::move(u.message);
  if (u.checkpoint) pending_->checkpoint = std::move(u.checkpoint);
}

std::optional<ProgressUpdate> ProgressBuffer::Take(std::int64_t now_us) {
  std::optional<ProgressUpdate> out = std::move(pending_);
  pending_.reset();
  if (out) last_write_us_ = now_us;
  return out;
}

}  // namespace drover
