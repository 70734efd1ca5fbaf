#include "supervisor/spare.h"

#include <spdlog/spdlog.h>
#include <unistd.h>

#include <algorithm>
#include <sstream>

#include "common/unique_fd.h"
#include "jobs/report_line.h"

namespace drover {
namespace {

std::string OneLine(std::string s) {
  std::replace(s.begin(), s.end(), '\n', ' ');
  return s;
}

void Reply(int fd, const std::string& line) { (void)WriteAll(fd, line.data(), line.size()); }

void Recover(JobStore* store, std::istringstream& in, int report_fd) {
  int spend = 0;
  std::string worker_id, reason;
  in >> spend >> worker_id;
  std::getline(in >> std::ws, reason);
  if (worker_id.empty()) {  // an empty id would mean every running job
    Reply(report_fd, RecoverFailedLine("", "no worker id"));
    return;
  }
  Result<std::vector<std::int64_t>> ids = store->Recover(worker_id, spend != 0, reason);
  if (ids.ok()) {
    Reply(report_fd, RecoveredLine(worker_id, static_cast<std::int64_t>(ids->size())));
  } else {
    Reply(report_fd, RecoverFailedLine(worker_id, ids.status().ToString()));
  }
}

}  // namespace

std::string RecoverCommand(const RecoverRequest& r) {
  return "recover " + std::string(r.spend_attempt ? "1 " : "0 ") + r.worker_id + " " + OneLine(r.reason) +
         "\n";
}

std::string BecomeCommand(const std::string& name) { return "become " + name + "\n"; }

std::string ServeAsSpare(JobStore* store, int command_fd, int report_fd) {
  Reply(report_fd, SpareIdleLine());
  std::string buf;
  char chunk[4096];
  while (true) {
    size_t nl;
    while ((nl = buf.find('\n')) != std::string::npos) {
      std::istringstream in(buf.substr(0, nl));
      buf.erase(0, nl + 1);
      std::string word;
      in >> word;
      if (word == "become") {
        std::string name;
        in >> name;
        return name;
      }
      if (word == "recover") {
        Recover(store, in, report_fd);
      } else {
        spdlog::warn("spare: unknown command \"{}\"", word);
      }
    }
    ssize_t n = read(command_fd, chunk, sizeof chunk);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return "";
    buf.append(chunk, static_cast<size_t>(n));
  }
}

}  // namespace drover
