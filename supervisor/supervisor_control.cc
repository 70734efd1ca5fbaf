// Supervisor (supervisor_internal.h): control-socket requests and configuration reloads.

#include <fcntl.h>
#include <grp.h>
#include <signal.h>
#include <spdlog/spdlog.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/file.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <deque>
#include <filesystem>
#include <fstream>
#include <limits>
#include <list>
#include <memory>
#include <nlohmann/json.hpp>
#include <random>
#include <sstream>
#include <utility>

#include "common/backoff.h"
#include "common/logging.h"
#include "common/time_util.h"
#include "common/timer_set.h"
#include "common/unique_fd.h"
#include "jobs/job_cgroup.h"
#include "jobs/job_json.h"
#include "jobs/report_line.h"
#include "jobs/scheduler.h"
#include "jobs/store/open_job_store.h"
#include "jobs/worker.h"
#include "supervisor/child_lifecycle.h"
#include "supervisor/control_request.h"
#include "supervisor/control_server.h"
#include "supervisor/orphans.h"
#include "supervisor/process_init.h"
#include "supervisor/spare.h"
#include "supervisor/supervisor.h"
#include "supervisor/supervisor_internal.h"

namespace drover {

using json = nlohmann::json;

namespace {

// A new worker count alone needs no new processes but the added ones.
bool SameButWorkerCount(const PoolConfig& a, PoolConfig b) {
  b.workers = a.workers;
  return a == b;
}

}  // namespace

Supervisor::Diff Supervisor::Compare(const Config& next) const {
  Diff d;
  bool jobs_changed = next.jobs != config_.jobs || next.limits != config_.limits ||
                      next.runners != config_.runners || next.supervisor.lease != config_.supervisor.lease ||
                      next.supervisor.shutdown_timeout != config_.supervisor.shutdown_timeout ||
                      next.supervisor.hang_timeout != config_.supervisor.hang_timeout;
  for (const auto& [name, pool] : next.pools) {
    auto it = config_.pools.find(name);
    if (it == config_.pools.end())
      d.added.push_back("pool:" + name);
    else if (jobs_changed || !SameButWorkerCount(it->second, pool))
      d.changed.push_back("pool:" + name);
    else if (pool.workers != it->second.workers)
      d.resized.push_back("pool:" + name);
  }
  for (const auto& [name, pool] : config_.pools) {
    if (!next.pools.count(name)) d.removed.push_back("pool:" + name);
  }
  if (jobs_changed || next.schedules != config_.schedules || next.scheduler != config_.scheduler) {
    d.changed.push_back("scheduler");
  }
  if (next.supervisor.database != config_.supervisor.database) d.restart_required.push_back("database");
  if (next.supervisor.socket != config_.supervisor.socket) d.restart_required.push_back("socket");
  if (next.http.listen != config_.http.listen) d.restart_required.push_back("http.listen");
  // Every process writes to the log it opened at its start: a new one for droverd alone, or for
  // the replaced processes alone, would split the log.
  if (next.supervisor.log_file != config_.supervisor.log_file) d.restart_required.push_back("log_file");
  return d;
}

Result<Config> Supervisor::Reread() {
  Result<Config> next = LoadConfig(config_.path);
  if (!next.ok()) return next.status();
  DROVER_RETURN_IF_ERROR(CheckHandlers(*next, handlers_));
  return next;
}

Result<Supervisor::Diff> Supervisor::Reload(bool from_signal, const std::set<std::string>& hold) {
  Result<Config> next = Reread();
  if (!next.ok()) {
    spdlog::error("reload rejected, keeping the running configuration: {}", next.status().ToString());
    return next.status();
  }
  Result<HttpAuth> auth = HttpAuth::Load(next->http.auth);
  if (!auth.ok()) {
    spdlog::error("reload rejected, keeping the running configuration: {}", auth.status().ToString());
    return auth.status();
  }
  if (credentials_) credentials_->SetAuth(*auth);
  Diff d = Compare(*next);
  for (const std::string& key : d.restart_required) {
    spdlog::warn("reload: a change of {} takes effect only after a restart of droverd",
                 key == "http.listen" ? "[http] listen" : "[supervisor] " + key);
  }
  next->supervisor.database = config_.supervisor.database;
  next->supervisor.socket = config_.supervisor.socket;
  next->http.listen = config_.http.listen;
  next->supervisor.log_file = config_.supervisor.log_file;
  config_ = std::move(next).value();
  UpdatePolicy();
  if (metrics_) metrics_->Configure(config_, HandlerTypes());
  spdlog::set_level(spdlog::level::from_str(config_.supervisor.log_level));
  if (from_signal || !d.empty())
    spdlog::info("reloaded {}: {} added, {} changed, {} resized, {} removed", config_.path, d.added.size(),
                 d.changed.size(), d.resized.size(), d.removed.size());
  // Rebuild the child list: keep unchanged children, replace changed ones without interrupting
  // their jobs (workers drain; the scheduler stops, which is quick).
  std::vector<std::unique_ptr<Child>> next_children;
  auto changed = [&](const std::string& key) {
    return std::find(d.changed.begin(), d.changed.end(), key) != d.changed.end();
  };
  for (auto& c : children_) {
    std::string key = c->pool.empty() ? "scheduler" : "pool:" + c->pool;
    bool keep =
        c->pool.empty() || (config_.pools.count(c->pool) && c->index < config_.pools.at(c->pool).workers);
    if (keep && !changed(key)) {
      next_children.push_back(std::move(c));
      continue;
    }
    if (!c->pool.empty() && c->alive()) spdlog::info("{} (pid {}): replaced; draining", c->name, c->pid);
    Act(*c, c->pool.empty() ? c->life.OnRetire(MonotonicUs()) : c->life.OnDrain(MonotonicUs()));
    if (c->alive()) retiring_.push_back(std::move(c));
  }
  auto present = [&](const std::string& pool, int i) {
    for (auto& c : next_children) {
      if (c->pool == pool && c->index == i) return true;
    }
    return false;
  };
  std::vector<Child*> fresh;
  auto add = [&](const std::string& pool, int i, bool at_front) {
    std::unique_ptr<Child> c = MakeChild(pool, i);
    fresh.push_back(c.get());
    next_children.insert(at_front ? next_children.begin() : next_children.end(), std::move(c));
  };
  if (!present("", 0)) add("", 0, true);
  for (const auto& [name, pool] : config_.pools) {
    for (int i = 0; i < pool.workers; ++i) {
      if (!present(name, i)) add(name, i, false);
    }
  }
  children_ = std::move(next_children);
  RetireSpare();  // it knows the old configuration; the next one starts right away
  timers_.Set({kSpare}, MonotonicUs());
  for (Child* c : fresh) {
    if (!hold.count(c->pool.empty() ? "scheduler" : "pool:" + c->pool))
      Act(*c, c->life.OnStart(MonotonicUs()));
  }
  return d;
}

std::vector<const Child*> Supervisor::DrainingChildren() const {
  std::vector<const Child*> out;
  for (const auto& c : retiring_) {
    if (c->alive() && c->life.state() == ProcState::kDraining) out.push_back(c.get());
  }
  return out;
}

std::string Supervisor::ListedName(const Child& c) {
  return c.life.state() == ProcState::kDraining ? c.name + "@" + std::to_string(c.pid) : c.name;
}

nlohmann::json Supervisor::ProcessJson(const Child& c) const {
  json j;
  j["name"] = ListedName(c);
  j["state"] = ProcStateName(c.life.state());
  j["pid"] = c.pid > 0 ? json(c.pid) : json(nullptr);
  j["uptime_s"] = c.alive() ? (MonotonicUs() - c.life.started_us()) / 1e6 : 0.0;
  j["restarts"] = c.restarts;
  j["jobs"] = c.jobs;
  j["last_exit"] = c.last_exit.empty() ? json(nullptr) : json(c.last_exit);
  if (c.life.state() == ProcState::kBackoff) {
    j["retry_in_s"] = std::max<std::int64_t>(0, c.life.restart_at_us() - MonotonicUs()) / 1e6;
  }
  if (c.life.start_pending()) j["start_pending"] = true;
  if (!c.runners.empty()) {
    json runners = json::array();
    for (const auto& [name, r] : c.runners) {
      json one = {{"name", name}, {"state", r.state}, {"failures", r.failures}, {"last_error", r.last_error}};
      if (r.state == "backoff")
        one["next_start_in_s"] = std::max<std::int64_t>(0, r.next_start_wall_ms - NowMs()) / 1e3;
      runners.push_back(std::move(one));
    }
    j["runners"] = std::move(runners);
  }
  if (c.alive()) j["started_at"] = FormatRfc3339(c.started_wall_ms);
  return j;
}

// Children named by `names`: exact names, "all", "POOL:*" / "worker:POOL:*" / "pool:POOL".
Result<std::vector<Child*>> Supervisor::Select(const std::vector<std::string>& names) {
  std::vector<Child*> out;
  for (const std::string& n : names) {
    size_t before = out.size();
    for (auto& c : children_) {
      bool match = n == "all" || n == c->name ||
                   (!c->pool.empty() &&
                    (n == c->pool + ":*" || n == "worker:" + c->pool + ":*" || n == "pool:" + c->pool));
      if (match && std::find(out.begin(), out.end(), c.get()) == out.end()) out.push_back(c.get());
    }
    if (out.size() == before) return Status::NotFound("no such process: " + n + " (see `droverctl status`)");
  }
  return out;
}

nlohmann::json Supervisor::DiffJson(const Diff& d) {
  return {{"added", d.added},
          {"changed", d.changed},
          {"resized", d.resized},
          {"removed", d.removed},
          {"restart_required", d.restart_required}};
}

// The socket's `enqueue` (enqueue_group's one verb): args are TYPE, PAYLOAD and optional
// "queue=Q", "priority=N", "delay_ms=N", "expires_at_ms=T", "max_attempts=N", "unique_key=K",
// "resource=R" (T: milliseconds since the epoch). Only configured job types; the store checks the payload.
// The connection is opened for the request only.
Result<EnqueueResult> Supervisor::EnqueueForPeer(const std::vector<std::string>& args) {
  if (args.size() < 2) return Status::InvalidArgument("usage: enqueue TYPE PAYLOAD [KEY=VALUE...]");
  const JobTypeConfig* type = config_.FindJob(args[0]);
  if (type == nullptr) return Status::NotFound("no job type \"" + args[0] + "\" in " + config_.path);
  EnqueueRequest r;
  r.type = args[0];
  r.payload = args[1];
  r.queue = type->queue;
  r.priority = type->priority;
  r.max_attempts = type->max_attempts;
  for (size_t i = 2; i < args.size(); ++i) {
    size_t eq = args[i].find('=');
    std::string key = args[i].substr(0, eq), value = eq == std::string::npos ? "" : args[i].substr(eq + 1);
    char* end = nullptr;
    errno = 0;
    long long n = std::strtoll(value.c_str(), &end, 10);
    // In range for what it sets; the store checks the ranges themselves (ValidateEnqueueRequest).
    bool number = !value.empty() && *end == '\0' && errno == 0;
    bool small = number && n >= std::numeric_limits<int>::min() && n <= std::numeric_limits<int>::max();
    if (key == "queue" && !value.empty()) {
      r.queue = value;
    } else if (key == "priority" && small) {
      r.priority = static_cast<int>(n);
    } else if (key == "max_attempts" && small) {
      r.max_attempts = static_cast<int>(n);
    } else if (key == "delay_ms" && number && n >= 0 && n <= kMaxTimeMs) {
      r.run_at_ms = NowMs() + n;
    } else if (key == "expires_at_ms" && number && n > 0) {
      r.expires_at_ms = n;
    } else if (key == "unique_key" && !value.empty() && value.rfind("schedule:", 0) != 0) {
      r.unique_key = value;
    } else if (key == "resource" && !value.empty()) {
      r.resource = value;
    } else {
      return Status::InvalidArgument("enqueue: bad option \"" + args[i] + "\"");
    }
  }
  if (!r.unique_key && type->unique) r.unique_key = UniqueKeyFor(r.type, r.payload);
  Result<std::unique_ptr<JobStore>> store = OpenStore();
  if (!store.ok()) return store.status();
  return (*store)->Enqueue(r);
}

// True when `pid` belongs to the session of a running command job (a job leads its own).
// Three ways to know, since a job may ask before its worker's report of its group has come:
// its session is a group a worker reported; its session leader is a child of a worker (every
// job leads a session of its own) or was reparented to droverd; it is in a job cgroup.
bool Supervisor::InJobSession(pid_t pid) {
  pid_t sid = getsid(pid);
  if (sid <= 0) return false;
  if (Find([sid](const Child& c) { return std::find(c.pgids.begin(), c.pgids.end(), sid) != c.pgids.end(); }))
    return true;
  if (const pid_t ppid = ParentOf(sid); ppid > 1) {
    if (ppid == getpid()) return true;
    if (const Child* c = FindByPid(ppid); c && !c->pool.empty()) return true;
  }
  if (!job_cgroups_.empty()) {
    const std::string base = "/" + job_cgroups_.substr(job_cgroups_.rfind('/') + 1);
    std::ifstream cgroup("/proc/" + std::to_string(pid) + "/cgroup");
    for (std::string entry; std::getline(cgroup, entry);) {
      if (entry.rfind("0::", 0) == 0 && entry.find(base) != std::string::npos) return true;
    }
  }
  return false;
}

// start, stop or restart of one process; returns what happened, for the operator.
std::string Supervisor::ProcessVerb(Child& c, const std::string& cmd) {
  std::int64_t now = MonotonicUs();
  ProcState before = c.life.state();
  if (cmd == "restart") {
    Replace(c, "restart requested");
    return "restarting";
  }
  if (cmd == "stop") {
    Act(c, c.life.OnStop(now));
    if (before == ProcState::kStarting || before == ProcState::kRunning || before == ProcState::kStopping) {
      return "stopping";
    }
    return before == ProcState::kBackoff ? "stopped" : "not running";
  }
  if (before == ProcState::kStarting || before == ProcState::kRunning) return "already running";
  Act(c, c.life.OnStart(now));
  if (before == ProcState::kStopping) return "starts once stopped";
  return c.life.state() == ProcState::kStarting ? "started" : "could not start (see the log); retrying";
}

std::string Supervisor::Dispatch(const std::string& line, const ControlServer::Peer& peer) {
  // Who may connect at all is decided by the ControlServer. A job runs as the daemon's user
  // under the packaged unit, so it could connect too: requests from a job's session are refused.
  if (InJobSession(peer.cred.pid)) {
    spdlog::warn("control: refused a request from pid {}, which runs inside a job", peer.cred.pid);
    return ErrorAnswer(ControlError::kPermissionDenied, "permission denied: a job may not control droverd");
  }
  Result<ControlCommand> request = ParseControlRequest(line);
  if (!request.ok()) return ErrorAnswer(request.status());
  const std::string& cmd = request->cmd;
  const std::vector<std::string>& args = request->args;
  if (peer.enqueue_only && cmd != "enqueue") {
    return ErrorAnswer(ControlError::kPermissionDenied,
                       "permission denied: members of enqueue_group may only enqueue");
  }
  json result;
  if (cmd == "enqueue") {
    Result<EnqueueResult> e = EnqueueForPeer(args);
    if (!e.ok()) return ErrorAnswer(e.status());
    result = {{"id", e->id}, {"state", JobStateName(e->state)}, {"duplicate", e->duplicate}};
  } else if (cmd == "status") {
    std::vector<Child*> sel;
    if (args.empty()) {
      for (auto& c : children_) sel.push_back(c.get());
    } else {
      Result<std::vector<Child*>> s = Select(args);
      if (!s.ok()) return ErrorAnswer(s.status());
      sel = *s;
    }
    result = json::array();
    for (Child* c : sel) result.push_back(ProcessJson(*c));
    if (args.empty()) {
      for (const Child* c : DrainingChildren()) result.push_back(ProcessJson(*c));
    }
  } else if (cmd == "start" || cmd == "stop" || cmd == "restart") {
    if (shutting_down_) return ErrorAnswer(ControlError::kShuttingDown, "droverd is shutting down");
    if (args.empty())
      return ErrorAnswer(ControlError::kBadRequest, cmd + " needs a process name, POOL:* or all");
    Result<std::vector<Child*>> s = Select(args);
    if (!s.ok()) return ErrorAnswer(s.status());
    result = json::array();
    for (Child* c : *s) {
      std::string name = c->name;  // before Replace(), which may free *c
      result.push_back({{"name", name}, {"result", ProcessVerb(*c, cmd)}});
    }
  } else if (cmd == "signal") {
    if (args.size() < 2) return ErrorAnswer(ControlError::kBadRequest, "usage: signal SIGNAL NAME...");
    int sig = SignalNumber(args[0]);
    if (sig <= 0) return ErrorAnswer(ControlError::kBadRequest, "unknown signal " + args[0]);
    Result<std::vector<Child*>> s = Select({args.begin() + 1, args.end()});
    if (!s.ok()) return ErrorAnswer(s.status());
    result = json::array();
    for (Child* c : *s) {
      if (c->alive()) kill(c->pid, sig);
      result.push_back(c->name);
    }
  } else if (cmd == "pid") {
    if (args.empty()) {
      result = getpid();
    } else {
      Result<std::vector<Child*>> s = Select(args);
      if (!s.ok()) return ErrorAnswer(s.status());
      result = json::array();
      for (Child* c : *s) result.push_back(c->pid);
    }
  } else if (cmd == "reread") {
    Result<Config> next = Reread();
    if (!next.ok()) return ErrorAnswer(next.status());
    result = DiffJson(Compare(*next));
  } else if (cmd == "update" || cmd == "reload") {
    Result<Diff> d = Reload(false);
    if (!d.ok()) return ErrorAnswer(d.status());
    result = DiffJson(*d);
  } else if (cmd == "shutdown") {
    if (!shutting_down_) Shutdown();
    result = "shutting down";
  } else if (cmd == "tail") {
    return Tail(args);
  } else if (cmd == "version") {
    result = DROVER_VERSION;
  } else if (cmd == "config") {
    // The configuration in force (the last one accepted), for a droverctl whose copy does not
    // parse; its path absolute, so that relative paths in it resolve as they did here.
    result = {{"path", std::filesystem::absolute(config_.path).string()}, {"text", config_.text}};
  } else {
    return ErrorAnswer(ControlError::kUnknownCommand, "unknown command \"" + cmd + "\"");
  }
  return OkAnswer(result);
}

int Supervisor::SignalNumber(std::string s) {
  if (!s.empty() && std::isdigit(static_cast<unsigned char>(s[0]))) return std::atoi(s.c_str());
  if (s.rfind("SIG", 0) == 0) s = s.substr(3);
  for (int sig = 1; sig < NSIG; ++sig) {
    const char* a = sigabbrev_np(sig);
    if (a && s == a) return sig;
  }
  return -1;
}

// args: [NAME or "" for all, N lines]
std::string Supervisor::Tail(const std::vector<std::string>& args) {
  if (config_.supervisor.log_file.empty()) {
    return ErrorAnswer(
        ControlError::kFailed,
        "logs go to stderr (under systemd: `journalctl -u drover`); set [supervisor] log_file to use tail");
  }
  std::string name = args.empty() ? "" : args[0];
  if (!name.empty() && name != "spare") {
    Result<std::vector<Child*>> known = Select({name});
    if (!known.ok()) return ErrorAnswer(known.status());
  }
  int n = args.size() > 1 ? std::max(1, std::atoi(args[1].c_str())) : 20;
  std::ifstream in(config_.supervisor.log_file);
  if (!in) return ErrorAnswer(ControlError::kFailed, "cannot read " + config_.supervisor.log_file);
  std::deque<std::string> lines;
  std::string line, tag = "[" + name + " ";
  while (std::getline(in, line)) {
    if (!name.empty() && line.find(tag) == std::string::npos) continue;
    lines.push_back(line);
    if (static_cast<int>(lines.size()) > n) lines.pop_front();
  }
  return OkAnswer(std::vector<std::string>(lines.begin(), lines.end()));
}

}  // namespace drover
