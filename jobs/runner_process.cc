#include "jobs/runner_process.h"

#include <fcntl.h>
#include <signal.h>
#include <unistd.h>

#include <fstream>

#include "common/escape.h"
#include "jobs/runner_protocol.h"
#include "jobs/spawner.h"

namespace drover {
namespace {

constexpr size_t kReadChunk = 65536;
constexpr size_t kMaxLogLine = 4096;

// Reads what `fd` has now into `buf`, stopping once it holds more than `max` bytes (the rest
// stays in the pipe). False at end of file (or a read error).
bool ReadInto(int fd, std::string* buf, size_t max) {
  char chunk[kReadChunk];
  while (true) {
    ssize_t n = read(fd, chunk, sizeof chunk);
    if (n > 0) {
      buf->append(chunk, static_cast<size_t>(n));
      if (static_cast<size_t>(n) < sizeof chunk || buf->size() > max) return true;
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    return n < 0 && errno == EAGAIN;
  }
}

// Moves the complete lines of `buf` to `lines`, each cut at `max` bytes.
void TakeLines(std::string* buf, std::vector<std::string>* lines, size_t max) {
  size_t start = 0;
  for (size_t nl; (nl = buf->find('\n', start)) != std::string::npos; start = nl + 1) {
    lines->push_back(std::string(Utf8Prefix(std::string_view(*buf).substr(start, nl - start), max)));
  }
  buf->erase(0, start);
}

}  // namespace

Result<std::unique_ptr<RunnerProcess>> RunnerProcess::Start(const RunnerConfig& c,
                                                            const std::map<std::string, std::string>& env) {
  Result<Pipe> in = MakePipe(false);
  if (!in.ok()) return in.status();
  // The worker's end must never block it: the runner may stop reading.
  if (fcntl(in->write.get(), F_SETFL, O_NONBLOCK) != 0) return Status::FromErrno("fcntl(F_SETFL)");
  SpawnRequest req = ProcessRequest(c);
  for (const auto& [k, v] : env) req.env[k] = v;
  req.stdin_fd = in->read.get();
  Result<SpawnedProcess> p = Spawn(req);
  if (!p.ok()) return p.status();
  std::unique_ptr<RunnerProcess> r(new RunnerProcess());
  r->pid_ = p->pid;
  r->in_fd_ = std::move(in->write);
  r->out_fd_ = std::move(p->stdout_fd);
  r->err_fd_ = std::move(p->stderr_fd);
  // p->status_fd closes here: runners speak on stdout.
  return r;
}

RunnerProcess::~RunnerProcess() { Kill(); }

void RunnerProcess::Queue(std::string_view data) {
  if (in_fd_ && !close_after_flush_) in_buf_.append(data);
}

bool RunnerProcess::Flush() {
  if (!in_fd_) return in_buf_.empty();
  while (in_done_ < in_buf_.size()) {
    ssize_t n = write(in_fd_.get(), in_buf_.data() + in_done_, in_buf_.size() - in_done_);
    if (n > 0) {
      in_done_ += static_cast<size_t>(n);
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && errno == EAGAIN) break;
    in_fd_.Reset();  // EPIPE: it closed its stdin or died
    return false;
  }
  if (in_done_ == in_buf_.size()) {
    in_buf_.clear();
    in_done_ = 0;
    if (close_after_flush_) in_fd_.Reset();
  } else if (in_done_ > kReadChunk) {
    in_buf_.erase(0, in_done_);
    in_done_ = 0;
  }
  return true;
}

void RunnerProcess::CloseInput() {
  close_after_flush_ = true;
  if (in_buf_.empty()) in_fd_.Reset();
}

RunnerProcess::ReadEnd RunnerProcess::ReadLines(std::vector<std::string>* lines) {
  bool open = ReadInto(out_fd_.get(), &out_buf_, kMaxRunnerLineBytes);
  size_t before = lines->size();
  TakeLines(&out_buf_, lines, std::string::npos);
  for (size_t i = before; i < lines->size(); ++i) {
    if ((*lines)[i].size() > kMaxRunnerLineBytes) {
      lines->resize(i);
      return ReadEnd::kLineTooLong;
    }
  }
  if (out_buf_.size() > kMaxRunnerLineBytes) return ReadEnd::kLineTooLong;
  return open ? ReadEnd::kOpen : ReadEnd::kEof;
}

bool RunnerProcess::ReadLog(std::vector<std::string>* lines) {
  bool open = ReadInto(err_fd_.get(), &err_buf_, kReadChunk);
  TakeLines(&err_buf_, lines, kMaxLogLine);
  if (err_buf_.size() > kMaxLogLine) {  // a line without end: log what there is
    lines->push_back(std::string(Utf8Prefix(err_buf_, kMaxLogLine)));
    err_buf_.clear();
  }
  if (!open && !err_buf_.empty()) {
    lines->push_back(std::move(err_buf_));
    err_buf_.clear();
  }
  return open;
}

void RunnerProcess::Reaped() {
  Kill();
  reaped_ = true;
}

void RunnerProcess::Kill() {
  if (pid_ > 0 && !reaped_) kill(-pid_, SIGKILL);
}

std::uint64_t RunnerProcess::ResidentBytes() const {
  std::ifstream statm("/proc/" + std::to_string(pid_) + "/statm");
  std::uint64_t size = 0, rss = 0;
  if (!(statm >> size >> rss)) return 0;
  return rss * static_cast<std::uint64_t>(sysconf(_SC_PAGESIZE));
}

}  // namespace drover
