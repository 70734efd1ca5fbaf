// CommandRun: one run of a command job — its process (the leader of a session and process group
// of its own), the read ends of its stdout, stderr and status pipes, the output kept so far
// (bounded), and the SIGTERM-then-SIGKILL deadline of a stop. It owns the process group and, where
// there is one, the job's cgroup: a run destroyed before its process was reaped SIGKILLs the
// group, and its cgroup is emptied (cgroup.kill) and removed in any case. ClassifyExit turns how a run ended
// into the attempt's outcome. Not thread-safe; the caller reaps (waitpid) and calls Reaped().
#ifndef DROVER_JOBS_COMMAND_RUN_H_
#define DROVER_JOBS_COMMAND_RUN_H_

#include <sys/types.h>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "common/duration.h"
#include "common/status.h"
#include "common/unique_fd.h"
#include "jobs/job.h"
#include "jobs/job_cgroup.h"
#include "jobs/spawner.h"

namespace drover {

// What a command run wrote, as far as it is kept.
struct CommandOutput {
  std::string out;             // stdout's first max_output bytes: the result of a success
  bool out_truncated = false;  // stdout was longer
  std::string out_tail;        // stdout's last max_output bytes ("[…]" in front when cut)
  std::string err_tail;        // stderr's last max_output bytes ("[…]" in front when cut)
};

class CommandRun {
 public:
  enum class Stream { kStdout, kStderr, kStatus };

  // Starts the process, in `cgroup` when that is valid; fails as Spawn() does (program, user,
  // permissions). stdout is kept up to `max_output` bytes, stderr's last `max_output` bytes.
  static Result<std::unique_ptr<CommandRun>> Start(SpawnRequest req, std::uint64_t max_output,
                                                   JobCgroup cgroup = {});
  ~CommandRun();
  CommandRun(const CommandRun&) = delete;
  CommandRun& operator=(const CommandRun&) = delete;

  pid_t pid() const { return pid_; }                            // also the process group (and session) id
  const std::string& cgroup() const { return cgroup_.path(); }  // empty: the worker's cgroup
  int fd(Stream s) const { return Pipe(s).get(); }              // -1 once closed

  // Reads what `s` has now; complete lines from the status pipe are appended to `status_lines`.
  // Returns false at end of file: then the caller stops watching fd(s) and calls Close(s).
  bool Read(Stream s, std::vector<std::string>* status_lines);
  void Close(Stream s) { Pipe(s).Reset(); }

  // SIGTERM to the group and SIGKILL `grace_us` later (see OnTimer). False when the process has
  // already been reaped or a stop is under way.
  bool Stop(std::int64_t now_us, std::int64_t grace_us);
  // When the stop's grace is over: SIGKILL to the group. 0: nothing pending.
  std::int64_t kill_at_us() const { return kill_at_us_; }
  void OnTimer(std::int64_t now_us);

  // The process was reaped: reads what is left in the pipes (a last status line may lack its
  // newline) and SIGKILLs whatever else is still in its group.
  void Reaped(int wait_status, std::vector<std::string>* status_lines);
  bool reaped() const { return reaped_; }
  int wait_status() const { return wait_status_; }

  // What the job wrote (call once, after Reaped): stdout's first max_output bytes, moved out, and
  // the last max_output bytes of stdout and of stderr.
  CommandOutput TakeOutput();

 private:
  CommandRun(SpawnedProcess p, std::uint64_t max_output, JobCgroup cgroup);
  void KillAll();
  UniqueFd& Pipe(Stream s) {
    return s == Stream::kStdout ? out_fd_ : s == Stream::kStderr ? err_fd_ : status_fd_;
  }
  const UniqueFd& Pipe(Stream s) const {
    return s == Stream::kStdout ? out_fd_ : s == Stream::kStderr ? err_fd_ : status_fd_;
  }
  void TakeStatusLines(std::vector<std::string>* lines);
  void KeepTail(std::string* tail, const char* data, size_t len, bool* cut);

  pid_t pid_;
  UniqueFd out_fd_, err_fd_, status_fd_;
  std::uint64_t max_output_;
  std::string out_;       // stdout's head, up to max_output_
  std::string out_rest_;  // stdout after the head: its last max_output_ bytes (up to twice that kept)
  std::string err_;       // stderr: its last max_output_ bytes (up to twice that kept)
  std::string status_buf_;
  bool out_truncated_ = false, out_rest_cut_ = false, err_cut_ = false;
  bool reaped_ = false;
  int wait_status_ = 0;
  std::int64_t kill_at_us_ = 0;
  JobCgroup cgroup_;  // declared last: destroyed (killed and removed) first
};

// How a command run ended, and what the worker knows about why.
struct ExitFacts {
  int wait_status = 0;
  bool timed_out = false;    // stopped by its timeout
  bool cancelled = false;    // stopped by droverctl cancel
  bool interrupted = false;  // stopped by a shutdown or recycling: the attempt does not count
  Duration timeout{0};
  const std::vector<int>* permanent_exit_codes = nullptr;
};

struct ExitOutcome {
  Completion::Kind kind = Completion::Kind::kSucceeded;
  std::string output;  // the result on success, the error otherwise
};

// The outcome of an attempt: exit 0 succeeds with stdout as the result (marked when truncated at
// `max_output`); a stop, a signal or another exit code fails it with the reason, then the tails
// of stderr and of stdout ("[stdout] ..."), all of it within `max_output` bytes; an exit code in
// permanent_exit_codes fails it for good; an interrupted run is re-queued.
ExitOutcome ClassifyExit(const ExitFacts& facts, const CommandOutput& output, std::uint64_t max_output);

}  // namespace drover

#endif  // DROVER_JOBS_COMMAND_RUN_H_
