// Supervisor (supervisor_internal.h): the life of its processes: forking, the spare, reports, exits and
// re-queues.

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
#include <deque>
#include <fstream>
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
#include "common/wait_status.h"
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

std::unique_ptr<Child> Supervisor::MakeChild(const std::string& pool, int index) {
  auto c = std::make_unique<Child>(
      pool.empty() ? "scheduler" : "worker:" + pool + ":" + std::to_string(index), &policy_);
  c->pool = pool;
  c->index = index;
  return c;
}

// Carries out what the lifecycle asked for.
void Supervisor::Act(Child& c, LifecycleActions a) {
  if (a.kill && c.alive()) kill(c.pid, SIGKILL);
  if (a.terminate && c.alive()) kill(c.pid, SIGTERM);
  if (a.drain && c.alive()) kill(c.pid, SIGHUP);
  if (a.spawn) Spawn(c);
}

void Supervisor::BuildChildren() {
  children_.push_back(MakeChild("", 0));
  for (const auto& [name, pool] : config_.pools) {
    for (int i = 0; i < pool.workers; ++i) children_.push_back(MakeChild(name, i));
  }
}

// Starts `c`: through the spare when one is idle, else by a fork of its own.
pid_t Supervisor::ForkQuietly() {
  std::unique_lock<std::mutex> quiet;
  if (credentials_) quiet = credentials_->QuietForFork();
  return fork();
}

void Supervisor::Spawn(Child& c) {
  if (shutting_down_) {
    (void)c.life.OnStop(MonotonicUs());  // not alive: only leaves BACKOFF for STOPPED
    return;
  }
  if (!c.spare() && HandOver(c)) return;
  auto pipes = [&] {
    Result<Pipe> p = MakePipe(false);
    Result<Pipe> commands = c.spare() ? MakePipe(false) : Result<Pipe>(Pipe{});
    return std::make_pair(std::move(p), std::move(commands));
  };
  auto [p, commands] = pipes();
  if (!p.ok() || !commands.ok()) {
    // Out of descriptors (say, a flood of clients): the reserve is for exactly this.
    ReleaseFdReserve();
    std::tie(p, commands) = pipes();
  }
  ScopeExit refill([this] { RefillFdReserve(); });
  if (!p.ok() || !commands.ok()) {
    spdlog::error("{}: {}", c.name, (p.ok() ? commands : p).status().ToString());
    return SpawnFailed(c);
  }
  pid_t parent = getpid();
  pid_t pid = ForkQuietly();
  if (pid < 0) {
    spdlog::error("{}: fork: {}", c.name, strerror(errno));
    return SpawnFailed(c);
  }
  if (pid == 0) {  // never returns
    if (c.spare()) SpareMain(p->write.Release(), commands->read.Release(), parent);
    ChildMain(c, p->write.Release(), parent);
  }
  // Non-blocking: a spare that stopped reading must not stall the supervisor.
  if (c.spare()) SetNonBlocking(commands->write.get(), true).ok();
  c.commands = std::move(commands->write);
  Started(c, pid, std::move(p->read));
  AddFd(c.pipe.get());
  spdlog::debug("{}: started pid {}", c.name, pid);
}

void Supervisor::Started(Child& c, pid_t pid, UniqueFd pipe) {
  SetNonBlocking(pipe.get(), true).ok();
  c.pipe = std::move(pipe);
  c.pid = pid;
  c.life.OnSpawned(MonotonicUs());
  c.started_wall_ms = NowMs();
  c.jobs.clear();
  c.pgids.clear();
  c.runners.clear();
  c.inbuf.clear();
  PublishProcessEvent(c, "started");
}

void Supervisor::SpawnFailed(Child& c) {
  c.life.OnSpawnFailed(MonotonicUs());
  LogRestartPlan(c);
}

void Supervisor::StartSpare() {
  spare_ = std::make_unique<Child>("spare", &policy_, true);
  Spawn(*spare_);
}

// Turns the idle spare into `c`; false when there is none or it cannot be told.
bool Supervisor::HandOver(Child& c) {
  if (!SpareIdle()) return false;
  std::string cmd = BecomeCommand(c.name);
  if (!WriteAll(spare_->commands.get(), cmd.data(), cmd.size()).ok()) {
    spdlog::warn("spare (pid {}) does not take commands; SIGKILL", spare_->pid);
    kill(spare_->pid, SIGKILL);
    RetireSpare();
    return false;
  }
  std::string pending = std::move(spare_->inbuf);
  c.recoveries = std::move(spare_->recoveries);
  Started(c, spare_->pid, std::move(spare_->pipe));
  c.inbuf = std::move(pending);  // replies to recover commands may be waiting
  spare_.reset();
  timers_.Set({kSpare}, MonotonicUs() + kSpareDelayUs);
  spdlog::debug("{}: started pid {} (the spare)", c.name, c.pid);
  return true;
}

// After a reload or at shutdown: the spare holds the old configuration. Closing its command
// pipe makes it exit; SIGKILL if it has not within 5 s.
void Supervisor::RetireSpare() {
  if (!spare_) return;
  // Not SIGTERM: closing the pipe lets it finish a re-queue it is doing; the lifecycle's kill
  // deadline covers a spare that does not go.
  (void)spare_->life.OnRetire(MonotonicUs());
  spare_->commands.Reset();
  if (spare_->alive()) retiring_.push_back(std::move(spare_));
  spare_.reset();
  timers_.SetEarliest({kSpare}, MonotonicUs());
}

void Supervisor::SpareMain(int report_fd, int command_fd, pid_t parent) {
  DropLoggers();  // closes the supervisor's log file before fds are renumbered
  int fds[] = {report_fd, command_fd};
  ResetChildAfterFork(fds, parent);
  SetProcessTitle("drover: spare");
  if (!SetupLogging("spare", LogOptions{config_.supervisor.log_level, config_.supervisor.log_file}).ok())
    _exit(1);
  JoinOwnCgroup();  // now, while idle: it costs milliseconds
  std::unique_ptr<JobStore> store = OpenChildStore("spare");
  // The first use of each statement and of the page cache happens now, not when needed.
  (void)store->Recover("spare@" + std::to_string(getpid()), false, "");
  size_t bytes = PrefaultWritableMemory(64 << 20);
  spdlog::debug("ready; {} KiB made private ahead of use", bytes >> 10);
  std::string name = ServeAsSpare(store.get(), fds[1], fds[0]);
  close(fds[1]);
  for (const auto& c : children_) {
    if (c->name == name) RunChild(*c, fds[0], std::move(store), true, parent);
  }
  if (!name.empty()) spdlog::error("spare: asked to become unknown process \"{}\"", name);
  _exit(name.empty() ? 0 : 1);
}

void Supervisor::ChildMain(const Child& c, int report_fd, pid_t parent) {
  DropLoggers();  // closes the supervisor's log file before fds are renumbered
  int fds[] = {report_fd};
  ResetChildAfterFork(fds, parent);
  RunChild(c, fds[0], nullptr, false, parent);
}

// Puts this child, and so the jobs it will start, into a cgroup of its own (jobs/job_cgroup.h).
void Supervisor::JoinOwnCgroup() {
  if (job_cgroups_.empty()) return;
  Status s = JoinProcessCgroup(job_cgroups_);
  if (!s.ok()) spdlog::warn("{}; its jobs are contained by their process groups only", s.ToString());
}

// This child's database connection; exits (logged) when it cannot be opened.
std::unique_ptr<JobStore> Supervisor::OpenChildStore(const std::string& who) {
  // Routine maintenance is the scheduler's (Maintain() each tick), not every commit's.
  StoreConfig sc = StoreConfigFor(config_.supervisor);
  sc.background_maintenance = true;
  sc.limits = RunningLimitsFor(config_);
  Result<std::unique_ptr<JobStore>> store = OpenJobStore(sc);
  if (!store.ok()) {
    spdlog::error("{} cannot start: {}", who, store.status().ToString());
    spdlog::default_logger()->flush();
    _exit(1);
  }
  return std::move(store).value();
}

// The child's own part of a start; `store` is the spare's open connection, or null.
// `in_cgroup`: the spare joined its cgroup already. `parent`: droverd.
void Supervisor::RunChild(const Child& c, int report_fd, std::unique_ptr<JobStore> store, bool in_cgroup,
                          pid_t parent) {
  SetNonBlocking(report_fd, true).ok();
  std::string title =
      c.pool.empty() ? "drover: scheduler" : "drover: worker " + c.pool + "#" + std::to_string(c.index);
  SetProcessTitle(title);
  LogOptions lo{config_.supervisor.log_level, config_.supervisor.log_file};
  if (!SetupLogging(c.name, lo).ok()) _exit(1);
  if (!in_cgroup && !c.pool.empty()) JoinOwnCgroup();
  if (!store) store = OpenChildStore(c.pool.empty() ? "scheduler" : "worker");
  int code;
  if (c.pool.empty()) {
    SchedulerOptions so{&config_, report_fd, store.get(), &event_gate_};
    code = RunScheduler(so);
  } else {
    WorkerOptions wo{c.name,       &config_,     &config_.pools.at(c.pool),
                     &handlers_,   report_fd,    store.get(),
                     job_cgroups_, &event_gate_, parent};
    code = RunWorker(wo);
  }
  spdlog::default_logger()->flush();
  _exit(code);
}

void Supervisor::LogRestartPlan(const Child& c) {
  if (c.life.state() == ProcState::kFatal) {
    spdlog::error("{}: gave up after {} rapid failures (startretries = {}); `droverctl start {}` tries again",
                  c.name, c.life.rapid_failures(), config_.supervisor.startretries, c.name);
  } else if (c.life.state() == ProcState::kBackoff) {
    Duration d((std::max<std::int64_t>(0, c.life.restart_at_us() - MonotonicUs()) + 999) / 1000);
    spdlog::info("{}: restarting in {}", c.name, FormatDuration(d));
  }
}

void Supervisor::Reap() {
  int st;
  pid_t pid;
  std::vector<std::pair<pid_t, int>> exited;
  while ((pid = waitpid(-1, &st, WNOHANG)) > 0) {
    // Anything else was an orphan reparented to this subreaper; reaping it is all it needs.
    if (FindByPid(pid) != nullptr) exited.emplace_back(pid, st);
  }
  if (exited.empty()) return;
  // A dead worker's processes (job processes it may never have reported) were reparented to
  // this process before its exit was reported: they die before any of its jobs is re-queued.
  KillOrphans();
  for (auto [dead, status] : exited) {
    if (Child* c = FindByPid(dead)) OnExit(*c, status);
  }
  std::erase_if(retiring_, [](const std::unique_ptr<Child>& c) { return !c->alive(); });
}

void Supervisor::KillOrphans() {
  OrphanKill k = drover::KillOrphans(
      [this](pid_t p) { return FindByPid(p) == nullptr && (view_reader_ == 0 || p != view_reader_); });
  if (k.killed > 0) spdlog::warn("killed {} orphaned job process(es)", k.killed);
  if (k.left > 0)
    spdlog::error("{} orphaned process(es) or group(s) SIGKILLed but not gone within 200 ms", k.left);
}

void Supervisor::OnExit(Child& c, int st) {
  std::int64_t now = MonotonicUs();
  std::string how = DescribeWaitStatus(st);
  std::string worker_id = c.pool.empty() ? "" : WorkerIdPrefix(config_.supervisor) + c.worker_id();
  std::string who = c.name + " (pid " + std::to_string(c.pid) + ") " + how;
  PublishProcessEvent(c, "exited", {{"how", how}});
  // Job process groups the worker reported go too (members that are not orphans), and all
  // that its jobs' cgroups hold.
  for (pid_t pg : c.pgids) kill(-pg, SIGKILL);
  if (!job_cgroups_.empty()) KillJobCgroups(job_cgroups_, c.pid);
  epoll_ctl(epoll_.get(), EPOLL_CTL_DEL, c.pipe.get(), nullptr);
  c.pipe.Reset();
  c.last_exit = how;
  c.stopped_wall_ms = NowMs();
  c.exit_status = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
  c.pid = 0;
  c.jobs.clear();
  c.pgids.clear();
  c.runners.clear();
  std::vector<RecoverRequest> unconfirmed = std::exchange(c.recoveries, {});
  ExitVerdict v = c.life.OnExit(now);
  if (v.expected) {
    spdlog::info("{}: stopped ({})", c.name, how);
    if (!worker_id.empty()) RecoverJobs({worker_id, false, "interrupted: " + who});
    for (const RecoverRequest& r : unconfirmed) RecoverJobs(r);
    if (v.actions.spawn) spdlog::info("{}: starting, as asked while it was stopping", c.name);
    Act(c, v.actions);
    return;
  }
  ++c.restarts;
  spdlog::warn("{}: exited unexpectedly: {}", c.name, how);
  LogRestartPlan(c);
  if (c.life.state() == ProcState::kFatal) {
    PublishProcessEvent(c, "fatal");
  } else if (c.life.state() == ProcState::kBackoff) {
    PublishProcessEvent(
        c, "backoff", {{"restart_in_ms", std::max<std::int64_t>(0, (c.life.restart_at_us() - now) / 1000)}});
  }
  for (const RecoverRequest& r : unconfirmed) RecoverJobs(r);
  // The spare re-queues the jobs first and then becomes the replacement, which may take them.
  // Without a spare the fork goes first, and the replacement's start overlaps the recovery
  // here (it cannot take the jobs before: they still belong to the old worker id).
  const bool restart_now = v.restart_scheduled && c.life.restart_at_us() <= MonotonicUs();
  const bool via_spare = SpareIdle();
  if (restart_now && !via_spare) Spawn(c);
  if (!worker_id.empty()) RecoverJobs({worker_id, true, "worker died: " + who});
  if (restart_now && via_spare) Spawn(c);
}

// Re-queues a worker's jobs through the idle spare, or here when there is none.
void Supervisor::RecoverJobs(const RecoverRequest& r) {
  if (SpareIdle()) {
    std::string cmd = RecoverCommand(r);
    if (WriteAll(spare_->commands.get(), cmd.data(), cmd.size()).ok()) {
      spare_->recoveries.push_back(r);
      return;
    }
  }
  RecoverJobsHere(r);
}

void Supervisor::RecoverJobsHere(const RecoverRequest& r) {
  Result<std::unique_ptr<JobStore>> store = OpenStore();
  if (!store.ok()) {
    ReleaseFdReserve();
    store = OpenStore();
  }
  ScopeExit refill([this] { RefillFdReserve(); });
  if (!store.ok()) {
    spdlog::error("cannot re-queue the jobs of {}: {}; the lease reaper will", r.worker_id,
                  store.status().ToString());
    return;
  }
  Result<std::vector<std::int64_t>> ids = (*store)->Recover(r.worker_id, r.spend_attempt, r.reason);
  if (!ids.ok()) {
    spdlog::error("cannot re-queue the jobs of {}: {}", r.worker_id, ids.status().ToString());
  } else {
    LogRecovered(r.worker_id, ids->size());
  }
}

void Supervisor::LogRecovered(const std::string& worker_id, size_t n) {
  if (n == 0) return;
  spdlog::warn("re-queued {} job(s) of {} at once", n, worker_id);
  metrics_->AddRecovered(static_cast<std::int64_t>(n));
}

// A spare's (or the process it became) answer to a recover command.
void Supervisor::OnRecoverReply(Child& c, const Report& reply) {
  auto it = std::find_if(c.recoveries.begin(), c.recoveries.end(),
                         [&](const RecoverRequest& r) { return r.worker_id == reply.worker_id; });
  if (it == c.recoveries.end()) return;
  RecoverRequest r = std::move(*it);
  c.recoveries.erase(it);
  if (reply.kind == Report::Kind::kRecovered)
    return LogRecovered(reply.worker_id, static_cast<size_t>(reply.count));
  spdlog::error("{} could not re-queue the jobs of {}: {}; trying again here", c.name, reply.worker_id,
                reply.text);
  RecoverJobsHere(r);
}

Child* Supervisor::FindByPid(pid_t pid) {
  return Find([&](const Child& c) { return c.pid == pid; });
}

Child* Supervisor::FindByPipe(int fd) {
  return Find([&](const Child& c) { return c.pipe.get() == fd; });
}

void Supervisor::OnReport(Child& c) {
  char buf[4096];
  ssize_t n;
  while ((n = read(c.pipe.get(), buf, sizeof buf)) > 0) c.inbuf.append(buf, static_cast<size_t>(n));
  // End of file: the process is exiting (its SIGCHLD follows); stop watching the pipe, or the
  // loop would wake for it again and again.
  if (n == 0) epoll_ctl(epoll_.get(), EPOLL_CTL_DEL, c.pipe.get(), nullptr);
  c.life.OnHeartbeat(MonotonicUs());
  size_t nl;
  while ((nl = c.inbuf.find('\n')) != std::string::npos) {
    std::string line = c.inbuf.substr(0, nl);
    c.inbuf.erase(0, nl + 1);
    Report r = ParseReport(line);
    switch (r.kind) {
      case Report::Kind::kReady:
        c.life.OnReady(MonotonicUs());
        spdlog::debug("{}: RUNNING (pid {})", c.name, c.pid);
        break;
      case Report::Kind::kHeartbeat:
        c.jobs = std::move(r.ids);
        break;
      case Report::Kind::kGroupStarted:
        // Never a group that is not a job's: kill(-1) or droverd's own group would be fatal.
        if (r.pgid > 1 && r.pgid != getpgrp() && r.pgid != c.pid) c.pgids.push_back(r.pgid);
        break;
      case Report::Kind::kGroupEnded:
        std::erase(c.pgids, r.pgid);
        break;
      case Report::Kind::kSpareIdle:
        c.life.OnReady(MonotonicUs());
        spdlog::debug("spare: idle (pid {})", c.pid);
        break;
      case Report::Kind::kRecovered:
      case Report::Kind::kRecoverFailed:
        OnRecoverReply(c, r);
        break;
      case Report::Kind::kRecycle:
        if (!c.life.retired() && !shutting_down_) Replace(c, "recycled: " + r.text);
        break;
      case Report::Kind::kTally:
      case Report::Kind::kEvent:
      case Report::Kind::kMissed:
        OnWatchReport(r);
        break;
      case Report::Kind::kRunner:
        c.runners[r.name] = {r.state, r.count, r.ms > 0 ? NowMs() + r.ms : 0, r.text};
        break;
      case Report::Kind::kUnknown:
        break;
    }
  }
}

// Starts a fresh process in `c`'s slot now and lets the old one finish its jobs.
void Supervisor::Replace(Child& c, const std::string& why) {
  for (auto& slot : children_) {
    if (slot.get() != &c) continue;
    spdlog::info("{}: {}; starting a replacement", c.name, why);
    std::unique_ptr<Child> old = std::move(slot);
    slot = MakeChild(old->pool, old->index);
    slot->restarts = old->restarts;
    Act(*old, old->life.OnRetire(MonotonicUs()));
    Spawn(*slot);
    if (old->alive()) retiring_.push_back(std::move(old));
    return;
  }
}

}  // namespace drover
