#include "jobs/report_line.h"

#include <algorithm>
#include <sstream>

namespace drover {
namespace {

constexpr std::string_view kReady = "ready", kHeartbeat = "hb", kGroupStarted = "pg", kGroupEnded = "pgend",
                           kSpareIdle = "spare", kRecovered = "recovered", kRecoverFailed = "recover-failed",
                           kRecycle = "recycle", kTally = "tally", kEvent = "event", kMissed = "missed",
                           kRunner = "runner";

// Free text goes last on its line: no newline may end the line early.
std::string OneLine(std::string s) {
  std::replace(s.begin(), s.end(), '\n', ' ');
  return s;
}

std::string Line(std::string_view word, const std::string& rest = "") {
  return std::string(word) + (rest.empty() ? "" : " " + rest) + "\n";
}

std::string Rest(std::istringstream& in) {
  std::string rest;
  std::getline(in >> std::ws, rest);
  return rest;
}

}  // namespace

std::string ReadyLine() { return Line(kReady); }
std::string HeartbeatLine(std::span<const std::int64_t> ids) {
  std::string rest;
  for (size_t i = 0; i < ids.size() && i < kMaxHeartbeatIds; ++i)
    rest += (i ? " " : "") + std::to_string(ids[i]);
  return Line(kHeartbeat, rest);
}
std::string GroupStartedLine(pid_t pgid) { return Line(kGroupStarted, std::to_string(pgid)); }
std::string GroupEndedLine(pid_t pgid) { return Line(kGroupEnded, std::to_string(pgid)); }
std::string SpareIdleLine() { return Line(kSpareIdle); }
std::string RecoveredLine(const std::string& worker_id, std::int64_t count) {
  return Line(kRecovered, worker_id + " " + std::to_string(count));
}
std::string RecoverFailedLine(const std::string& worker_id, const std::string& why) {
  return Line(kRecoverFailed, (worker_id.empty() ? "?" : worker_id) + " " + OneLine(why));
}
std::string RecycleLine(const std::string& why) { return Line(kRecycle, OneLine(why)); }
std::string EventLine(const std::string& event_json) { return Line(kEvent, OneLine(event_json)); }
std::string MissedLine(const std::string& schedule, std::int64_t count) {
  return Line(kMissed, std::to_string(count) + " " + OneLine(schedule));
}

std::string RunnerLine(const std::string& name, const std::string& state, std::int64_t failures,
                       std::int64_t next_start_ms, const std::string& why) {
  return Line(kRunner, name + " " + state + " " + std::to_string(failures) + " " +
                           std::to_string(next_start_ms) + (why.empty() ? "" : " " + OneLine(why)));
}

Report ParseReport(std::string_view line) {
  std::istringstream in{std::string(line)};
  std::string word;
  in >> word;
  Report r;
  if (word == kReady) {
    r.kind = Report::Kind::kReady;
  } else if (word == kHeartbeat) {
    r.kind = Report::Kind::kHeartbeat;
    std::int64_t id;
    while (in >> id) r.ids.push_back(id);
  } else if (word == kGroupStarted || word == kGroupEnded) {
    if (!(in >> r.pgid)) return r;
    r.kind = word == kGroupStarted ? Report::Kind::kGroupStarted : Report::Kind::kGroupEnded;
  } else if (word == kSpareIdle) {
    r.kind = Report::Kind::kSpareIdle;
  } else if (word == kRecovered) {
    if (!(in >> r.worker_id >> r.count)) return r;
    r.kind = Report::Kind::kRecovered;
  } else if (word == kRecoverFailed) {
    if (!(in >> r.worker_id)) return r;
    r.kind = Report::Kind::kRecoverFailed;
    r.text = Rest(in);
  } else if (word == kRecycle || word == kTally || word == kEvent) {
    r.kind = word == kRecycle ? Report::Kind::kRecycle
             : word == kTally ? Report::Kind::kTally
                              : Report::Kind::kEvent;
    r.text = Rest(in);
  } else if (word == kMissed) {
    if (!(in >> r.count)) return r;
    r.kind = Report::Kind::kMissed;
    r.text = Rest(in);
  } else if (word == kRunner) {
    if (!(in >> r.name >> r.state >> r.count >> r.ms)) return r;
    r.kind = Report::Kind::kRunner;
    r.text = Rest(in);
  }
  return r;
}

}  // namespace drover
