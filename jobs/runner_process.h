// RunnerProcess: one running instance of a [runners.NAME] program: its process (the leader of a
// session and process group of its own, killed when its worker dies), the write end of its stdin
// with what is still to be written, and the read ends of its stdout (protocol lines) and stderr
// (log lines). It owns the group: destroyed before it was reaped, it SIGKILLs the group. The
// protocol itself is the worker's (jobs/runner_protocol.h). Not thread-safe; the caller reaps.
#ifndef DROVER_JOBS_RUNNER_PROCESS_H_
#define DROVER_JOBS_RUNNER_PROCESS_H_

#include <sys/types.h>

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "common/config.h"
#include "common/status.h"
#include "common/unique_fd.h"

namespace drover {

class RunnerProcess {
 public:
  // Starts `config.command` with PATH, the runner's env and `env` (DROVER_* variables) in its
  // environment. Fails as Spawn() does (program, user, permissions).
  static Result<std::unique_ptr<RunnerProcess>> Start(const RunnerConfig& config,
                                                      const std::map<std::string, std::string>& env);
  ~RunnerProcess();
  RunnerProcess(const RunnerProcess&) = delete;
  RunnerProcess& operator=(const RunnerProcess&) = delete;

  pid_t pid() const { return pid_; }
  int in_fd() const { return in_fd_.get(); }  // -1 once closed
  int out_fd() const { return out_fd_.get(); }
  int err_fd() const { return err_fd_.get(); }

  // Queues `data` for the runner's stdin; Flush writes what the pipe takes now, and returns false
  // when the runner no longer reads (its stdin is broken).
  void Queue(std::string_view data);
  bool Flush();
  bool write_pending() const { return !in_buf_.empty(); }
  // No more input: the runner sees end of file once what is queued is written.
  void CloseInput();

  enum class ReadEnd { kOpen, kEof, kLineTooLong };
  // Reads stdout: complete lines (without newlines) are appended to `lines`. kEof when the
  // runner closed it; kLineTooLong when a line grows past kMaxRunnerLineBytes.
  ReadEnd ReadLines(std::vector<std::string>* lines);
  // Reads stderr: complete lines (each cut at 4 KiB) are appended to `lines`; false at end of file.
  bool ReadLog(std::vector<std::string>* lines);
  void CloseOutput() { out_fd_.Reset(); }
  void CloseLog() { err_fd_.Reset(); }

  // SIGKILL to the group (a no-op once reaped).
  void Kill();
  // It was waited for: whatever is left in its group (the job processes of a forking runner) is
  // SIGKILLed, so none of its jobs runs on when they go back to the queue.
  void Reaped();

  // Its resident memory (from /proc/PID/statm); 0 when unknown.
  std::uint64_t ResidentBytes() const;

 private:
  RunnerProcess() = default;

  pid_t pid_ = -1;
  UniqueFd in_fd_, out_fd_, err_fd_;
  std::string in_buf_;  // queued for stdin, not written yet
  size_t in_done_ = 0;  // how much of in_buf_ is written
  bool close_after_flush_ = false;
  std::string out_buf_;  // stdout after its last newline
  std::string err_buf_;
  bool reaped_ = false;
};

}  // namespace drover

#endif  // DROVER_JOBS_RUNNER_PROCESS_H_
