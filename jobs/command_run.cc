#include "jobs/command_run.h"

#include <signal.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>

namespace drover {
namespace {

constexpr size_t kReadChunk = 65536;
constexpr size_t kMaxStatusLine = 1 << 20;  // a runaway line without a newline is dropped

std::string SignalName(int sig) {
  const char* abbrev = sigabbrev_np(sig);
  return abbrev ? std::string("SIG") + abbrev : "signal " + std::to_string(sig);
}

}  // namespace

Result<std::unique_ptr<CommandRun>> CommandRun::Start(SpawnRequest req, std::uint64_t max_output,
                                                      JobCgroup cgroup) {
  req.cgroup_procs_fd = cgroup.procs_fd();
  Result<SpawnedProcess> p = Spawn(req);
  if (!p.ok()) return p.status();
  return std::unique_ptr<CommandRun>(new CommandRun(std::move(p).value(), max_output, std::move(cgroup)));
}

CommandRun::CommandRun(SpawnedProcess p, std::uint64_t max_output, JobCgroup cgroup)
    : pid_(p.pid),
      out_fd_(std::move(p.stdout_fd)),
      err_fd_(std::move(p.stderr_fd)),
      status_fd_(std::move(p.status_fd)),
      max_output_(max_output),
      cgroup_(std::move(cgroup)) {}

CommandRun::~CommandRun() {
  // Never leave a job running unowned. Once reaped, the pid may belong to someone else: only
  // the group is signalled then, which Reaped() already emptied. The cgroup goes with cgroup_.
  if (!reaped_) kill(-pid_, SIGKILL);
}

void CommandRun::KillAll() {
  kill(-pid_, SIGKILL);
  cgroup_.Kill();  // also what left the group: other sessions, other process groups
}

bool CommandRun::Read(Stream s, std::vector<std::string>* status_lines) {
  UniqueFd& fd = Pipe(s);
  if (!fd) return false;
  char buf[kReadChunk];
  while (true) {
    ssize_t n = read(fd.get(), buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return true;  // EAGAIN: more later
    if (n == 0) return false;
    size_t len = static_cast<size_t>(n);
    if (s == Stream::kStdout) {
      size_t room = out_.size() < max_output_ ? max_output_ - out_.size() : 0;
      out_.append(buf, std::min(room, len));
      if (len > room) out_truncated_ = true;
    } else if (s == Stream::kStderr) {
      err_.append(buf, len);
      if (err_.size() > 2 * max_output_) {  // keep the tail: the end of stderr explains a failure
        err_.erase(0, err_.size() - max_output_);
        err_truncated_ = true;
      }
    } else {
      status_buf_.append(buf, len);
      TakeStatusLines(status_lines);
    }
  }
}

void CommandRun::TakeStatusLines(std::vector<std::string>* lines) {
  size_t start = 0, nl;
  while ((nl = status_buf_.find('\n', start)) != std::string::npos) {
    if (nl > start) lines->emplace_back(status_buf_, start, nl - start);
    start = nl + 1;
  }
  status_buf_.erase(0, start);
  if (status_buf_.size() > kMaxStatusLine) status_buf_.clear();
}

bool CommandRun::Stop(std::int64_t now_us, std::int64_t grace_us) {
  if (reaped_ || kill_at_us_ > 0) return false;
  kill(-pid_, SIGTERM);
  kill_at_us_ = now_us + std::max<std::int64_t>(grace_us, 1000);
  return true;
}

void CommandRun::OnTimer(std::int64_t now_us) {
  if (kill_at_us_ == 0 || now_us < kill_at_us_) return;
  KillAll();
  kill_at_us_ = 0;
}

void CommandRun::Reaped(int wait_status, std::vector<std::string>* status_lines) {
  reaped_ = true;
  wait_status_ = wait_status;
  kill_at_us_ = 0;
  for (Stream s : {Stream::kStdout, Stream::kStderr, Stream::kStatus}) (void)Read(s, status_lines);
  if (!status_buf_.empty()) {
    status_buf_ += '\n';
    TakeStatusLines(status_lines);
  }
  // Whatever the job left running in its group (and its cgroup) goes with it.
  KillAll();
}

ExitOutcome ClassifyExit(const ExitFacts& f, const std::string& out, bool out_truncated,
                         std::uint64_t max_output, const std::string& err_tail) {
  ExitOutcome o;
  const int st = f.wait_status;
  auto with_stderr = [&](std::string what) { return err_tail.empty() ? what : what + ": " + err_tail; };
  if (f.interrupted) {
    o.kind = Completion::Kind::kInterrupted;
    o.output = "interrupted by shutdown";
    return o;
  }
  if (WIFEXITED(st) && WEXITSTATUS(st) == 0 && !f.timed_out && !f.cancelled) {
    o.output = out;
    if (out_truncated) o.output += "\n[output truncated at " + FormatSize(max_output) + "]";
    return o;
  }
  o.kind = Completion::Kind::kFailed;
  if (f.cancelled) {
    o.output = "cancelled";
  } else if (f.timed_out) {
    o.output = with_stderr("timed out after " + FormatDuration(f.timeout));
  } else if (WIFSIGNALED(st)) {
    o.output = with_stderr("killed by signal " + std::to_string(WTERMSIG(st)) + " (" +
                           SignalName(WTERMSIG(st)) + ")");
  } else {
    int code = WEXITSTATUS(st);
    if (f.permanent_exit_codes && std::find(f.permanent_exit_codes->begin(), f.permanent_exit_codes->end(),
                                            code) != f.permanent_exit_codes->end()) {
      o.kind = Completion::Kind::kFailedPermanent;
    }
    o.output = with_stderr("exit code " + std::to_string(code));
  }
  return o;
}

}  // namespace drover
