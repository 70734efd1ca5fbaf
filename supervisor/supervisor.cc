#include "supervisor/supervisor.h"

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
#include <cstdlib>
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
#include "supervisor/supervisor_internal.h"
#include "supervisor/xmlrpc_codec.h"

namespace drover {

using json = nlohmann::json;

int Supervisor::Run() {
  Status s = Start();
  if (!s.ok()) {
    spdlog::error("{}", s.ToString());
    // The operator starting it by hand looks at the terminal, not the log file.
    if (!config_.supervisor.log_file.empty()) fprintf(stderr, "droverd: %s\n", s.ToString().c_str());
    return 1;
  }
  while (!(shutting_down_ && NoneAlive())) {
    std::int64_t now = MonotonicUs();
    RunTimers(now);
    if (shutting_down_ && NoneAlive()) break;
    int timeout_ms = timers_.TimeoutMs(MonotonicUs(), 1000, NextLifecycleDeadline());
    if (!log_followers_.empty()) timeout_ms = std::min(timeout_ms, 250);
    if (events_->readers() > 0) timeout_ms = std::min<int>(timeout_ms, kNewJobsPollUs / 1000);
    Wait(pending_rpcs_.empty() ? timeout_ms : std::min(timeout_ms, 50));
    if (!pending_rpcs_.empty() || !log_followers_.empty()) PollRpcs();
    if (view_reader_ > 0 && MonotonicUs() > view_deadline_us_) {
      spdlog::warn("the queue figures took over {} s to read; giving up", kStoreViewTimeoutUs / 1'000'000);
      kill(view_reader_, SIGKILL);  // its pipe's end follows
    }
    if (events_->readers() > 0) {
      PollNewJobs();
    } else {
      new_jobs_after_ = -1;  // the next reader starts from its own start
    }
    events_->Flush();
  }
  for (const PendingRpc& p : pending_rpcs_) {
    control_.Respond(p.client,
                     HttpResponse(200, "text/xml", XmlRpcFaultBody(kShutdownState, "SHUTDOWN_STATE")));
  }
  for (const LogFollower& f : log_followers_) control_.Respond(f.client, "0\r\n\r\n");  // the last chunk
  events_->Close();
  FinishStoreView(nullptr);
  control_.CloseAll();
  // Cgroups a worker left while their processes were still exiting.
  if (!job_cgroups_.empty()) KillJobCgroups(job_cgroups_);
  unlink(config_.supervisor.socket.c_str());
  if (!config_.supervisor.pidfile.empty()) unlink(config_.supervisor.pidfile.c_str());
  if (IsPostgresDatabase(config_.supervisor.database)) {
    // The other nodes see a clean stop, not a node gone silent, and a new leader takes over now.
    Result<std::unique_ptr<JobStore>> store = OpenStore();
    Status left = store.ok() ? (*store)->LeaveNodes(config_.supervisor.node) : store.status();
    if (!left.ok()) spdlog::warn("{}", left.ToString());
  }
  spdlog::info("stopped");
  return 0;
}

NodeInfo Supervisor::ThisNode() const {
  NodeInfo me;
  me.name = config_.supervisor.node;
  char host[256] = {};
  if (gethostname(host, sizeof host - 1) == 0) me.host = host;
  me.pid = getpid();
  me.version = DROVER_VERSION;
  me.started_at_ms = NowMs();
  for (const auto& [_, pool] : config_.pools) me.workers += pool.workers;
  return me;
}

Status Supervisor::Start() {
  DROVER_RETURN_IF_ERROR(CheckHandlers(config_, handlers_));
  if (!IsPostgresDatabase(config_.supervisor.database)) DROVER_RETURN_IF_ERROR(PrepareDatabaseFiles());
  DROVER_RETURN_IF_ERROR(LockDatabase());
  if (prctl(PR_SET_CHILD_SUBREAPER, 1) != 0) return Status::FromErrno("prctl(PR_SET_CHILD_SUBREAPER)");
  job_cgroups_ = JobCgroupRoot(InstanceKey(config_.supervisor));
  if (job_cgroups_.empty()) {
    spdlog::info(
        "no cgroup v2 subtree is delegated to droverd: a job's processes that leave its process group "
        "are killed when the job ends, but not at once by a timeout or cancel (under systemd: Delegate=yes)");
  } else if (int n = KillJobCgroups(job_cgroups_); n > 0) {
    // Before the recovery below: their jobs are about to run again.
    spdlog::warn("killed what {} job(s) of an earlier droverd left running", n);
  }
  for (const auto& [name, job] : config_.jobs) {
    if (!job.max_processes && !job.max_memory) continue;
    if (job_cgroups_.empty()) {
      spdlog::warn("[jobs.{}] max_processes and max_memory are not applied: droverd has no cgroup v2 subtree",
                   name);
    } else {
      // Before any fork: droverd may have to move into a leaf cgroup for this.
      std::vector<std::string> on = EnableJobCgroupControllers(job_cgroups_);
      spdlog::info("job cgroup controllers enabled: {}", on.empty()       ? "none"
                                                         : on.size() == 2 ? "pids, memory"
                                                                          : on[0]);
    }
    break;
  }
  {
    // Opened, migrated and closed again before any fork.
    Result<std::unique_ptr<JobStore>> store = OpenStore();
    if (!store.ok()) return store.status();
    // On PostgreSQL: refused while a live node elsewhere holds this node's name, before any of
    // its jobs is touched.
    DROVER_RETURN_IF_ERROR((*store)->JoinNodes(ThisNode(), config_.supervisor.node_timeout.count()));
    // Only this node's: on PostgreSQL other nodes' workers share the table.
    Result<std::vector<std::int64_t>> rec =
        (*store)->Recover(WorkerIdPrefix(config_.supervisor), false, "interrupted: droverd restarted");
    if (!rec.ok()) return rec.status();
    if (!rec->empty()) spdlog::warn("re-queued {} job(s) left running by an earlier droverd", rec->size());
  }
  sigset_t set;
  sigemptyset(&set);
  for (int sig : {SIGCHLD, SIGTERM, SIGINT, SIGHUP}) sigaddset(&set, sig);
  sigprocmask(SIG_BLOCK, &set, nullptr);
  signal(SIGPIPE, SIG_IGN);
  sig_fd_.Reset(signalfd(-1, &set, SFD_CLOEXEC | SFD_NONBLOCK));
  epoll_.Reset(epoll_create1(EPOLL_CLOEXEC));
  if (!sig_fd_ || !epoll_) return Status::FromErrno("signalfd/epoll");
  AddFd(sig_fd_.get());
  DROVER_RETURN_IF_ERROR(control_.Listen(config_.supervisor.socket, config_.supervisor.socket_group,
                                         config_.supervisor.enqueue_group, epoll_.get()));
  if (!config_.http.listen.empty()) {
    Result<HttpAuth> auth = HttpAuth::Load(config_.http.auth);
    if (!auth.ok()) return auth.status();
    Result<std::unique_ptr<CredentialChecker>> checker = CredentialChecker::Create();
    if (!checker.ok()) return checker.status();
    credentials_ = std::move(checker).value();
    credentials_->SetAuth(*auth);
    AddFd(credentials_->fd());
    DROVER_RETURN_IF_ERROR(control_.ListenTcp(config_.http.listen));
    if (!credentials_->configured()) {
      spdlog::info("/metrics on http://{}/ (no [http] auth: nothing else is served there)",
                   config_.http.listen);
    } else {
      spdlog::info("dashboard, /metrics and XML-RPC on http://{}/ (credentials needed{}{})",
                   config_.http.listen, config_.http.public_metrics ? " but for /metrics" : "",
                   config_.http.read_only ? "; read-only" : "");
    }
  }
  DROVER_RETURN_IF_ERROR(WritePidfile());
  Result<EventGate> gate = EventGate::Create();
  if (!gate.ok()) return gate.status();
  event_gate_ = std::move(gate).value();
  StartWatching();
  RefillFdReserve();
  BuildChildren();
  for (auto& c : children_) Spawn(*c);
  if (config_.supervisor.spare) StartSpare();
  spdlog::info("started {} process(es); database {}, socket {}", children_.size(),
               DatabaseForLog(config_.supervisor.database), config_.supervisor.socket);
  if (const char* usec = getenv("WATCHDOG_USEC")) watchdog_us_ = std::atoll(usec) / 2;
  if (config_.supervisor.watchdog.count() > 0) watchdog_us_ = Us(config_.supervisor.watchdog);
  std::int64_t now = MonotonicUs();
  if (watchdog_us_ > 0) timers_.Set({kWatchdog}, now);
  timers_.Set({kSweep}, now + kSweepIntervalUs);
  return Status::Ok();
}

// The database holds payloads (often secrets): it is created 0600, or 0660 for socket_group
// (whose members use droverctl's job verbs on it) whatever the umask; SQLite gives its -wal and
// -shm files the same mode and owner. Existing files wider than that are reported.
Status Supervisor::PrepareDatabaseFiles() {
  const std::string& db = config_.supervisor.database;
  const std::string& group = config_.supervisor.socket_group;
  const mode_t mode = group.empty() ? 0600 : 0660;
  UniqueFd fd(open(db.c_str(), O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, mode));
  if (fd) {
    if (fchmod(fd.get(), mode) != 0) return Status::FromErrno("chmod " + db);
    if (!group.empty()) {
      struct group* g = getgrnam(group.c_str());
      if (g == nullptr) return Status::InvalidArgument("socket_group \"" + group + "\" does not exist");
      if (fchown(fd.get(), static_cast<uid_t>(-1), g->gr_gid) != 0) {
        return Status::FromErrno("chown " + db + " to group " + group);
      }
    }
    return Status::Ok();
  }
  if (errno != EEXIST) return Status::FromErrno("create database " + db + " (does the directory exist?)");
  struct stat st;
  if (lstat(db.c_str(), &st) != 0) return Status::FromErrno("stat " + db);
  if (S_ISLNK(st.st_mode))
    return Status::InvalidArgument("database " + db + " is a symbolic link; name the file itself");
  if (st.st_mode & 0007) {
    spdlog::warn("{} can be read by every user (mode {:o}): payloads may hold secrets; chmod {:o} {}", db,
                 st.st_mode & 0777, mode, db);
  }
  return Status::Ok();
}

// One droverd per SQLite file; on PostgreSQL one per control socket on this host (the nodes
// table keeps node names apart across hosts).
Status Supervisor::LockDatabase() {
  const bool pg = IsPostgresDatabase(config_.supervisor.database);
  std::string path = (pg ? config_.supervisor.socket : config_.supervisor.database) + ".lock";
  lock_fd_.Reset(open(path.c_str(), O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600));
  if (!lock_fd_)
    return Status::FromErrno("open lock file " + path + " (does the directory exist and is it writable?)");
  if (flock(lock_fd_.get(), LOCK_EX | LOCK_NB) != 0) {
    char buf[32] = {};
    (void)!pread(lock_fd_.get(), buf, sizeof buf - 1, 0);
    // A droverd killed while it forked leaves a child that holds the lock until it has closed the
    // descriptors it did not keep (or has died with its parent): a moment, which is waited out.
    const pid_t holder = static_cast<pid_t>(std::atoll(buf));
    const bool holder_gone = holder > 0 && kill(holder, 0) != 0 && errno == ESRCH;
    bool locked = false;
    for (int i = 0; holder_gone && i < 200 && !locked; ++i) {
      usleep(10'000);
      locked = flock(lock_fd_.get(), LOCK_EX | LOCK_NB) == 0;
    }
    if (!locked && holder_gone) {
      return Status::Busy(path + " is still locked by a process of droverd " + buf +
                          ", which has exited (fuser " + path + " names it)");
    }
    if (!locked) {
      return Status::Busy("another droverd (pid " + std::string(buf[0] ? buf : "?") +
                          ") is already running on " + (pg ? path : config_.supervisor.database) +
                          "; stop it first");
    }
  }
  std::string pid = std::to_string(getpid());
  if (ftruncate(lock_fd_.get(), 0) != 0 || pwrite(lock_fd_.get(), pid.data(), pid.size(), 0) < 0) {
    return Status::FromErrno("write " + path);
  }
  return Status::Ok();
}

Status Supervisor::WritePidfile() {
  if (config_.supervisor.pidfile.empty()) return Status::Ok();
  UniqueFd fd(
      open(config_.supervisor.pidfile.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0644));
  if (!fd) return Status::FromErrno("open pidfile " + config_.supervisor.pidfile);
  std::string pid = std::to_string(getpid()) + "\n";
  return WriteAll(fd.get(), pid.data(), pid.size()).Prefixed("write pidfile " + config_.supervisor.pidfile);
}

void Supervisor::AddFd(int fd) {
  epoll_event ev{};
  ev.events = EPOLLIN;
  ev.data.fd = fd;
  epoll_ctl(epoll_.get(), EPOLL_CTL_ADD, fd, &ev);
}

// The lifecycle's timings, from the configuration (again after each reload).
void Supervisor::UpdatePolicy() {
  const SupervisorConfig& s = config_.supervisor;
  policy_.startsecs_us = Us(s.startsecs);
  policy_.startretries = s.startretries;
  policy_.hang_timeout_us = Us(s.hang_timeout);
  policy_.hang_grace_us = 5'000'000;
  // Workers stop their jobs at shutdown_timeout and need kill_after to see them go.
  policy_.stop_grace_us = Us(s.shutdown_timeout) + 10'000'000;
  policy_.restart_delay_us = [this](int failures) {
    return Us(BackoffDelay({config_.supervisor.restart_delay, config_.supervisor.restart_delay_max, 0.1},
                           failures, rng_));
  };
}

// Descriptors held back for restarting children and re-queueing their jobs when the process has
// run out (EMFILE): released just for that, taken again afterwards.
void Supervisor::ReleaseFdReserve() {
  for (UniqueFd& fd : fd_reserve_) fd.Reset();
}

void Supervisor::RefillFdReserve() {
  for (UniqueFd& fd : fd_reserve_) {
    if (!fd) fd.Reset(open("/dev/null", O_RDONLY | O_CLOEXEC));
  }
}

bool Supervisor::NoneAlive() const {
  for (const auto& c : children_) {
    if (c->alive()) return false;
  }
  return retiring_.empty() && !(spare_ && spare_->alive());
}

void Supervisor::Wait(int timeout_ms) {
  epoll_event events[64];
  int n = epoll_wait(epoll_.get(), events, 64, timeout_ms);
  for (int i = 0; i < n; ++i) {
    // The control server's tokens carry a client's serial above the fd (ControlServer::Owns);
    // the signal fd's and the pipes' carry nothing else.
    int fd = events[i].data.fd;
    bool plain_fd = (events[i].data.u64 >> 32) == 0;
    if (fd == sig_fd_.get()) {
      OnSignal();
    } else if (control_.Owns(events[i].data.u64)) {
      control_.OnEvent(
          events[i].data.u64, events[i].events,
          [this](const std::string& line, const ControlServer::Peer& peer) { return Dispatch(line, peer); },
          [this](const HttpRequest& r, const ControlServer::Peer& peer, ControlServer::ClientRef client) {
            return OnHttp(r, peer, client);
          });
    } else if (plain_fd && view_pipe_ && fd == view_pipe_.get()) {
      OnStoreViewData();
    } else if (plain_fd && credentials_ && fd == credentials_->fd()) {
      OnCredentialsChecked();
    } else if (Child* c = plain_fd ? FindByPipe(fd) : nullptr) {
      OnReport(*c);
    }
  }
}

// The earliest deadline of a process's lifecycle (its own state machine keeps them), or none.
std::int64_t Supervisor::NextLifecycleDeadline() const {
  std::int64_t next = TimerSet::kNever;
  auto consider = [&](const Child& c) {
    if (std::int64_t due = c.life.NextDeadline(); due > 0) next = std::min(next, due);
  };
  for (auto& c : children_) consider(*c);
  for (auto& c : retiring_) consider(*c);
  if (spare_) consider(*spare_);
  return next;
}

void Supervisor::RunTimers(std::int64_t now) {
  auto check = [&](Child& c) {
    LifecycleActions a = c.life.OnTimer(now);
    if (a.kill) spdlog::warn("{}: did not stop in time; SIGKILL", c.name);
    if (a.terminate) {
      spdlog::error("{}: no heartbeat for {}; SIGTERM, then SIGKILL", c.name,
                    FormatDuration(config_.supervisor.hang_timeout));
    }
    Act(c, a);
  };
  for (auto& c : children_) check(*c);
  for (auto& c : retiring_) check(*c);
  if (spare_) check(*spare_);
  if (!ready_sent_ && !shutting_down_) {
    bool all = std::all_of(children_.begin(), children_.end(),
                           [](const auto& c) { return c->life.state() != ProcState::kStarting; });
    if (all) {
      NotifySystemd("READY=1\nSTATUS=running");
      ready_sent_ = true;
    }
  }
  control_.CloseIdle(now, 10'000'000);  // a request is due within 10 s of connecting
  for (TimerSet::Key key : timers_.TakeDue(now)) {
    switch (static_cast<TimerKind>(key.kind)) {
      case kSpare:
        if (WantSpare()) StartSpare();
        break;
      case kForceStop:
        ForceStop();
        break;
      case kWatchdog:
        NotifySystemd("WATCHDOG=1");
        timers_.Set({kWatchdog}, now + watchdog_us_);
        break;
      case kSweep:
        // Processes a job left behind when it ended (started in a session or group of their
        // own) come to this subreaper: they do not outlive their job by more than a second.
        KillOrphans();
        RemoveDrainedJobCgroups();
        timers_.Set({kSweep}, now + kSweepIntervalUs);
        break;
    }
  }
}

void Supervisor::OnSignal() {
  signalfd_siginfo si;
  while (read(sig_fd_.get(), &si, sizeof si) == sizeof si) {
    switch (si.ssi_signo) {
      case SIGCHLD:
        Reap();
        break;
      case SIGHUP:
        (void)Reload(true).ok();
        break;
      default:
        if (shutting_down_) {
          spdlog::warn("second {}: forcing shutdown", strsignal(si.ssi_signo));
          ForceStop();
        } else {
          Shutdown();
        }
    }
  }
}

void Supervisor::Shutdown() {
  spdlog::info("shutting down: running jobs get up to {}",
               FormatDuration(config_.supervisor.shutdown_timeout));
  NotifySystemd("STOPPING=1");
  shutting_down_ = true;
  // SIGTERM: a child finishes its jobs within shutdown_timeout (then stops them, which takes
  // up to kill_after); the lifecycle SIGKILLs one still there well after that.
  for (auto& c : children_) Act(*c, c->life.OnStop(MonotonicUs()));
  for (auto& c : retiring_) {
    if (c->alive()) kill(c->pid, SIGTERM);
  }
  RetireSpare();
  // Workers stop their jobs at shutdown_timeout and need kill_after to see them go.
  timers_.Set({kForceStop}, MonotonicUs() + Us(config_.supervisor.shutdown_timeout) + 10'000'000);
}

void Supervisor::ForceStop() {
  shutting_down_ = true;
  for (auto* list : {&children_, &retiring_}) {
    for (auto& c : *list) {
      if (!c->alive()) continue;
      for (pid_t pg : c->pgids) kill(-pg, SIGKILL);
      kill(c->pid, SIGKILL);
    }
  }
}

Status CheckHandlers(const Config& config, const HandlerRegistry& handlers) {
  std::string missing;
  for (const auto& [name, job] : config.jobs) {
    if (!job.is_command() && !job.is_runner() && handlers.Find(name) == nullptr)
      missing += (missing.empty() ? "" : ", ") + name;
  }
  if (missing.empty()) return Status::Ok();
  return Status::InvalidArgument(config.path + ": [jobs." + missing.substr(0, missing.find(',')) +
                                 "] has no `command` and this program registers no in-process handler for it "
                                 "(missing: " +
                                 missing +
                                 "); add `command = [...]` or run a program that "
                                 "registers the handler");
}

int RunSupervisor(Config config, const HandlerRegistry& handlers) {
  return Supervisor(std::move(config), handlers).Run();
}

}  // namespace drover
