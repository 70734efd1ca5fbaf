// ProgressBuffer: the progress an attempt reported (a command's status lines, a handler's
// calls) and that is not in the store yet. Reports merge, each field's latest value winning, and
// are written at most every 250 ms per job. Not thread-safe.
#ifndef DROVER_JOBS_PROGRESS_BUFFER_H_
#define DROVER_JOBS_PROGRESS_BUFFER_H_

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "jobs/status_line.h"

namespace drover {

class ProgressBuffer {
 public:
  static constexpr std::int64_t kWriteIntervalUs = 250'000;

  // Merges a command's status lines; a bad line is logged (the first 10 of an attempt).
  void AddStatusLines(std::int64_t job_id, const std::vector<std::string>& lines);
  void Merge(ProgressUpdate u);

  bool has_checkpoint() const { return pending_ && pending_->checkpoint.has_value(); }
  // When the pending report may be written; 0 when nothing is pending.
  std::int64_t due_us() const { return pending_ ? last_write_us_ + kWriteIntervalUs : 0; }
  // Takes the pending report (if any), counting `now_us` as its write.
  std::optional<ProgressUpdate> Take(std::int64_t now_us);

 private:
  std::optional<ProgressUpdate> pending_;
  std::int64_t last_write_us_ = 0;
  int bad_lines_ = 0;
};

}  // namespace drover

#endif  // DROVER_JOBS_PROGRESS_BUFFER_H_
