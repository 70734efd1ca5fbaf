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

constexpr std::string_view kCutMark = "[…]";

// Where the last `n` bytes of `s` start, moved forward to a UTF-8 character boundary.
size_t TailStart(const std::string& s, size_t n) {
  size_t start = s.size() > n ? s.size() - n : 0;
  while (start < s.size() && (static_cast<unsigned char>(s[start]) & 0xC0) == 0x80) ++start;
  return start;
}

// The last `n` bytes of `s`, the cut mark in front when anything before them was dropped (here
// or already, `cut`).
std::string MarkedTail(const std::string& s, size_t n, bool cut) {
  size_t start = TailStart(s, n);
  return (cut || start > 0 ? std::string(kCutMark) : "") + s.substr(start);
}

// `s` in at most `n` bytes, the cut mark included: its end is kept.
std::string Fit(const std::string& s, size_t n) {
  if (s.size() <= n) return s;
  if (n <= kCutMark.size()) return "";
  return std::string(kCutMark) + s.substr(TailStart(s, n - kCutMark.size()));
}

}  // namespace

// Appends to a rolling tail: at most twice max_output_ is held, max_output_ after a trim.
void CommandRun::KeepTail(std::string* tail, const char* data, size_t len, bool* cut) {
  tail->append(data, len);
  if (tail->size() > 2 * max_output_) {
    tail->erase(0, tail->size() - max_output_);
    *cut = true;
  }
}

CommandOutput CommandRun::TakeOutput() {
  CommandOutput o;
  o.out_truncated = out_truncated_;
  // The last max_output_ bytes of head + rest, without joining the two whole.
  size_t from_head =
      out_rest_cut_ ? 0 : std::min(out_.size(), max_output_ - std::min(max_output_, out_rest_.size()));
  o.out_tail = MarkedTail(out_.substr(out_.size() - from_head) + out_rest_, max_output_,
                          out_rest_cut_ || from_head < out_.size());
  o.out = std::move(out_);
  o.err_tail = MarkedTail(err_, max_output_, err_cut_);
  return o;
}

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
      if (len > room) {
        out_truncated_ = true;
        KeepTail(&out_rest_, buf + room, len - room, &out_rest_cut_);
      }
    } else if (s == Stream::kStderr) {
      KeepTail(&err_, buf, len, &err_cut_);  // the end of stderr explains a failure
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

ExitOutcome ClassifyExit(const ExitFacts& f, const CommandOutput& output, std::uint64_t max_output) {
  ExitOutcome o;
  const int st = f.wait_status;
  if (f.interrupted) {
    o.kind = Completion::Kind::kInterrupted;
    o.output = "interrupted by shutdown";
    return o;
  }
  if (WIFEXITED(st) && WEXITSTATUS(st) == 0 && !f.timed_out && !f.cancelled) {
    o.output = output.out;
    if (output.out_truncated) o.output += "\n[output truncated at " + FormatSize(max_output) + "]";
    return o;
  }
  o.kind = Completion::Kind::kFailed;
  std::string reason;
  if (f.cancelled) {
    o.output = "cancelled";
    return o;
  } else if (f.timed_out) {
    reason = "timed out after " + FormatDuration(f.timeout);
  } else if (WIFSIGNALED(st)) {
    reason = "killed by signal " + std::to_string(WTERMSIG(st)) + " (" + SignalName(WTERMSIG(st)) + ")";
  } else {
    int code = WEXITSTATUS(st);
    if (f.permanent_exit_codes && std::find(f.permanent_exit_codes->begin(), f.permanent_exit_codes->end(),
                                            code) != f.permanent_exit_codes->end()) {
      o.kind = Completion::Kind::kFailedPermanent;
    }
    reason = "exit code " + std::to_string(code);
  }
  // Within max_output: stderr's tail first, stdout's in what is left (each gets half when both
  // need more).
  constexpr std::string_view kErr = ": ", kOut = "\n[stdout] ";
  size_t budget = max_output > reason.size() ? max_output - reason.size() : 0;
  const std::string& err = output.err_tail;
  const std::string& out = output.out_tail;
  size_t need_err = err.empty() ? 0 : err.size() + kErr.size();
  size_t need_out = out.empty() ? 0 : out.size() + kOut.size();
  size_t for_err = need_err;
  if (need_err + need_out > budget) {  // stdout keeps what it needs up to half; stderr the rest
    size_t for_out_at_most = need_out < budget / 2 ? need_out : budget / 2;
    for_err = std::min(need_err, budget - for_out_at_most);
  }
  size_t for_out = std::min(need_out, budget - for_err);
  o.output = reason;
  if (for_err > kErr.size()) o.output += std::string(kErr) + Fit(err, for_err - kErr.size());
  if (for_out > kOut.size()) o.output += std::string(kOut) + Fit(out, for_out - kOut.size());
  return o;
}

}  // namespace drover
