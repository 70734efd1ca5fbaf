// Supervisor (supervisor_internal.h): the logs of supervisord's XML-RPC API, and the chunked
// HTTP responses that `supervisorctl tail -f` and `maintail -f` follow. droverd's processes
// all write to one log_file: a process's log is its lines in the end of that file.

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <sstream>

#include "common/unique_fd.h"
#include "supervisor/http_request.h"
#include "supervisor/supervisor_internal.h"
#include "supervisor/supervisor_rpc_internal.h"

namespace drover {

using json = nlohmann::json;
using rpc::Fault;
using rpc::GroupOf;
using rpc::Value;

namespace {

constexpr std::int64_t kMaxLogScan = 8 << 20;  // bytes of the log file a process's log is cut from
constexpr std::int64_t kMaxLogRead = 1 << 20;  // bytes one read of the main log returns at most
constexpr const char* kNoLogFile = "droverd logs to stderr; set [supervisor] log_file";

// Reads `length` bytes of `path` from `offset`, or fails naming the path.
Result<std::string> ReadRange(const std::string& path, std::int64_t offset, std::int64_t length) {
  UniqueFd fd(open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd) return Status::FromErrno("open " + path);
  std::string out(static_cast<size_t>(length), '\0');
  size_t done = 0;
  while (done < out.size()) {
    ssize_t n = pread(fd.get(), out.data() + done, out.size() - done, offset + static_cast<off_t>(done));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return Status::FromErrno("read " + path);
    if (n == 0) break;
    done += static_cast<size_t>(n);
  }
  out.resize(done);
  return out;
}

Result<std::int64_t> FileSize(const std::string& path) {
  struct stat st;
  if (stat(path.c_str(), &st) != 0) return Status::FromErrno("stat " + path);
  return static_cast<std::int64_t>(st.st_size);
}

}  // namespace

std::optional<std::string> Supervisor::FollowLog(const std::string& target, ControlServer::ClientRef client) {
  // /logtail/NAME/stdout, /logtail/NAME/stderr or /mainlogtail.
  std::string tag;
  if (target != "/mainlogtail") {
    std::string rest = target.substr(9);
    size_t slash = rest.rfind('/');
    std::string name = rest.substr(0, slash),
                channel = slash == std::string::npos ? "stdout" : rest.substr(slash + 1);
    std::optional<RpcTarget> t = Resolve(name);
    if (!t || !t->child) return HttpResponse(404, "text/plain", "no such process: " + name + "\n");
    if (channel != "stdout")
      return HttpResponse(404, "text/plain", "droverd's processes log to stdout only\n");
    tag = "[" + t->child->name + " ";
  }
  const std::string& path = config_.supervisor.log_file;
  if (path.empty()) return HttpResponse(404, "text/plain", std::string(kNoLogFile) + "\n");
  Result<std::int64_t> size = FileSize(path);
  if (!size.ok()) return HttpResponse(404, "text/plain", size.status().message() + "\n");
  // Like `supervisorctl tail`, start with the last 1600 bytes of the log.
  std::string head =
      "HTTP/1.1 200 OK\r\nServer: droverd\r\nContent-Type: text/plain\r\n"
      "Transfer-Encoding: chunked\r\n\r\n";
  if (tag.empty()) {
    Result<std::string> last = ReadRange(path, std::max<std::int64_t>(0, *size - 1600), 1600);
    if (last.ok() && !last->empty()) head += HttpChunk(*last);
  } else if (Result<std::string> log = ProcessLog(tag.substr(1, tag.size() - 2)); log.ok() && !log->empty()) {
    head += HttpChunk(*ReadLogSlice(*log, -1600, 0));
  }
  if (!control_.Send(client, head, false)) return std::nullopt;
  log_followers_.push_back({client, tag, *size, ""});
  return std::nullopt;
}

void Supervisor::PollFollowers() {
  const std::string& path = config_.supervisor.log_file;
  Result<std::int64_t> size = FileSize(path);
  for (size_t i = 0; i < log_followers_.size();) {
    LogFollower& f = log_followers_[i];
    std::string out;
    if (size.ok() && *size < f.offset) f.offset = 0;  // the log was rotated or truncated
    if (size.ok() && *size > f.offset) {
      Result<std::string> data =
          ReadRange(path, f.offset, std::min<std::int64_t>(*size - f.offset, kMaxLogRead));
      if (data.ok()) {
        f.offset += static_cast<std::int64_t>(data->size());
        f.partial += *data;
        size_t end = f.partial.rfind('\n');
        if (end != std::string::npos) {
          std::istringstream lines(f.partial.substr(0, end + 1));
          f.partial.erase(0, end + 1);
          for (std::string line; std::getline(lines, line);) {
            if (f.tag.empty() || line.find(f.tag) != std::string::npos) out += line + "\n";
          }
        }
      }
    }
    if (f.partial.size() > static_cast<size_t>(kMaxLogRead)) f.partial.clear();  // no newline in sight
    // An empty chunk would end the response.
    if (out.empty() ? !control_.Awaiting(f.client) : !control_.Send(f.client, HttpChunk(out), false)) {
      log_followers_.erase(log_followers_.begin() + static_cast<std::ptrdiff_t>(i));
      continue;
    }
    ++i;
  }
}

RpcReply Supervisor::RpcReadLog(const json& p) {
  const std::string& path = config_.supervisor.log_file;
  if (path.empty()) return Fault(kNoFile, kNoLogFile);
  Result<std::int64_t> size = FileSize(path);
  if (!size.ok()) return Fault(kFailed, size.status().message());
  std::int64_t offset = p[0].get<std::int64_t>(), length = p[1].get<std::int64_t>();
  if ((offset < 0 && length != 0) || length < 0) return Fault(kBadArguments);
  std::int64_t from = offset < 0 ? std::max<std::int64_t>(0, *size + offset) : offset;
  std::int64_t n = offset < 0 || length == 0 ? *size - from : length;
  if (offset < 0 && n > kMaxLogRead) from += n - kMaxLogRead;  // the end of the log, as asked
  Result<std::string> data = ReadRange(path, from, std::clamp<std::int64_t>(n, 0, kMaxLogRead));
  if (!data.ok()) return Fault(kFailed, data.status().message());
  return Value(*data);
}

// --- logs ---

Result<std::string> Supervisor::ProcessLog(const std::string& name) const {
  const std::string& path = config_.supervisor.log_file;
  Result<std::int64_t> size = FileSize(path);
  if (!size.ok()) return size.status();
  std::int64_t from = std::max<std::int64_t>(0, *size - kMaxLogScan);
  Result<std::string> text = ReadRange(path, from, *size - from);
  if (!text.ok()) return text.status();
  std::istringstream in(*text);
  std::string line, out, tag = "[" + name + " ";
  if (from > 0) std::getline(in, line);  // the cut one
  while (std::getline(in, line)) {
    if (line.find(tag) != std::string::npos) out += line + "\n";
  }
  return out;
}

RpcOutcome Supervisor::WithProcessLog(const json& p,
                                      const std::function<RpcOutcome(const std::string&)>& use) {
  const std::string name = p[0].get<std::string>();
  std::optional<RpcTarget> t = Resolve(name);
  if (!t || !t->child) return Fault(kBadName, name);
  if (config_.supervisor.log_file.empty()) return Fault(kNoFile, kNoLogFile);
  Result<std::string> log = ProcessLog(t->child->name);
  if (!log.ok()) return Fault(kFailed, log.status().message());
  return use(*log);
}

RpcReply Supervisor::RpcReadStdout(const json& p) {
  return WithProcessLog(p, [&](const std::string& log) {
    std::optional<std::string> slice = ReadLogSlice(log, p[1].get<std::int64_t>(), p[2].get<std::int64_t>());
    return slice ? Value(*slice) : Fault(kBadArguments);
  });
}

RpcReply Supervisor::RpcReadStderr(const json& p) {
  const std::string name = p[0].get<std::string>();
  std::optional<RpcTarget> t = Resolve(name);
  if (!t || !t->child) return Fault(kBadName, name);
  return Fault(kNoFile, "droverd's processes log to one file: read their stdout log");
}

RpcReply Supervisor::RpcTailStdout(const json& p) {
  return WithProcessLog(p, [&](const std::string& log) {
    return Value(TailLogSlice(log, p[1].get<std::int64_t>(), p[2].get<std::int64_t>()));
  });
}

// All processes write to one log_file, which logrotate (copytruncate) or the operator rotates.
RpcReply Supervisor::RpcClearLog(const json& p) {
  if (!p.empty() && !Resolve(p[0].get<std::string>())) return Fault(kBadName, p[0].get<std::string>());
  return Fault(kFailed, "droverd's processes share log_file, which is not cleared over XML-RPC; rotate it");
}

RpcReply Supervisor::RpcClearAllLogs(const json&) {
  json out = json::array();
  RpcOutcome failed = Fault(kFailed, "droverd's processes share log_file; rotate it");
  for (auto& c : children_) out.push_back(RpcProcessResult(GroupOf(*c), c->name, failed));
  return Value(out);
}

}  // namespace drover
