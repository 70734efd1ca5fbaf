#include "supervisor/supervisor.h"

#include <fcntl.h>
#include <grp.h>
#include <signal.h>
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
#include <random>
#include <sstream>
#include <utility>

#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>

#include "common/backoff.h"
#include "common/logging.h"
#include "common/time_util.h"
#include "common/timer_set.h"
#include "common/unique_fd.h"
#include "jobs/job_cgroup.h"
#include "jobs/job_json.h"
#include "jobs/report_line.h"
#include "jobs/store/open_job_store.h"
#include "jobs/scheduler.h"
#include "jobs/worker.h"
#include "supervisor/control_request.h"
#include "supervisor/child_lifecycle.h"
#include "supervisor/control_server.h"
#include "supervisor/orphans.h"
#include "supervisor/process_init.h"
#include "supervisor/spare.h"

namespace drover {
namespace {

using json = nlohmann::json;


std::string DescribeWait(int st) {
  if (WIFEXITED(st)) return "exit status " + std::to_string(WEXITSTATUS(st));
  if (WIFSIGNALED(st)) {
    const char* abbrev = sigabbrev_np(WTERMSIG(st));
    return "killed by signal " + std::to_string(WTERMSIG(st)) + (abbrev ? std::string(" (SIG") + abbrev + ")" : "");
  }
  return "status " + std::to_string(st);
}

struct Child {
  Child(std::string n, const LifecyclePolicy* policy, bool is_spare = false)
      : name(std::move(n)), life(policy, is_spare) {}
  std::string name;  // "scheduler", "worker:POOL:N" or "spare"
  std::string pool;  // empty for the scheduler and the spare
  int index = 0;
  ChildLifecycle life;
  pid_t pid = 0;
  UniqueFd pipe;  // reports from the child
  std::string inbuf;
  std::int64_t started_wall_ms = 0;
  int restarts = 0;
  std::string last_exit;
  std::vector<std::int64_t> jobs;
  std::vector<pid_t> pgids;
  UniqueFd commands;       // spare only: the write end of its command pipe
  std::vector<RecoverRequest> recoveries;  // asked of this process, not confirmed yet

  bool alive() const { return pid > 0; }
  bool spare() const { return life.spare(); }
  std::string worker_id() const { return name + "@" + std::to_string(pid); }
};

class Supervisor {
 public:
  Supervisor(Config config, const HandlerRegistry& handlers)
      : config_(std::move(config)), handlers_(handlers), rng_(std::random_device{}()) {
    UpdatePolicy();
  }

  int Run() {
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
      Wait(timers_.TimeoutMs(MonotonicUs(), 1000, NextLifecycleDeadline()));
    }
    control_.CloseAll();
    // Cgroups a worker left while their processes were still exiting.
    if (!job_cgroups_.empty()) KillJobCgroups(job_cgroups_);
    unlink(config_.supervisor.socket.c_str());
    if (!config_.supervisor.pidfile.empty()) unlink(config_.supervisor.pidfile.c_str());
    spdlog::info("stopped");
    return 0;
  }

 private:
  // --- start-up ---

  Status Start() {
    DROVER_RETURN_IF_ERROR(CheckHandlers(config_, handlers_));
    DROVER_RETURN_IF_ERROR(PrepareDatabaseFiles());
    DROVER_RETURN_IF_ERROR(LockDatabase());
    if (prctl(PR_SET_CHILD_SUBREAPER, 1) != 0) return Status::FromErrno("prctl(PR_SET_CHILD_SUBREAPER)");
    job_cgroups_ = JobCgroupRoot(config_.supervisor.database);
    if (job_cgroups_.empty()) {
      spdlog::info("no cgroup v2 subtree is delegated to droverd: a job's processes that leave its process group "
                   "are killed when the job ends, but not at once by a timeout or cancel (under systemd: Delegate=yes)");
    } else if (int n = KillJobCgroups(job_cgroups_); n > 0) {
      // Before the recovery below: their jobs are about to run again.
      spdlog::warn("killed what {} job(s) of an earlier droverd left running", n);
    }
    for (const auto& [name, job] : config_.jobs) {
      if (!job.max_processes && !job.max_memory) continue;
      if (job_cgroups_.empty()) {
        spdlog::warn("[jobs.{}] max_processes and max_memory are not applied: droverd has no cgroup v2 subtree", name);
      } else {
        // Before any fork: droverd may have to move into a leaf cgroup for this.
        std::vector<std::string> on = EnableJobCgroupControllers(job_cgroups_);
        spdlog::info("job cgroup controllers enabled: {}", on.empty() ? "none" : on.size() == 2 ? "pids, memory" : on[0]);
      }
      break;
    }
    {
      // Opened, migrated and closed again before any fork.
      Result<std::unique_ptr<JobStore>> store = OpenStore();
      if (!store.ok()) return store.status();
      Result<std::vector<std::int64_t>> rec = (*store)->Recover("", false, "interrupted: droverd restarted");
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
    DROVER_RETURN_IF_ERROR(WritePidfile());
    RefillFdReserve();
    BuildChildren();
    for (auto& c : children_) Spawn(*c);
    if (config_.supervisor.spare) StartSpare();
    spdlog::info("started {} process(es); database {}, socket {}", children_.size(), config_.supervisor.database,
                 config_.supervisor.socket);
    if (const char* usec = getenv("WATCHDOG_USEC")) watchdog_us_ = std::atoll(usec) / 2;
    if (config_.supervisor.watchdog.count() > 0) watchdog_us_ = Us(config_.supervisor.watchdog);
    std::int64_t now = MonotonicUs();
    if (watchdog_us_ > 0) timers_.Set({kWatchdog}, now);
    timers_.Set({kSweep}, now + kSweepIntervalUs);
    return Status::Ok();
  }

  Result<std::unique_ptr<JobStore>> OpenStore() { return OpenJobStore(StoreConfigFor(config_.supervisor)); }

  // The database holds payloads (often secrets): it is created 0600, or 0660 for socket_group
  // (whose members use droverctl's job verbs on it) whatever the umask; SQLite gives its -wal and
  // -shm files the same mode and owner. Existing files wider than that are reported.
  Status PrepareDatabaseFiles() {
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
    if (S_ISLNK(st.st_mode)) return Status::InvalidArgument("database " + db + " is a symbolic link; name the file itself");
    if (st.st_mode & 0007) {
      spdlog::warn("{} can be read by every user (mode {:o}): payloads may hold secrets; chmod {:o} {}", db,
                   st.st_mode & 0777, mode, db);
    }
    return Status::Ok();
  }

  Status LockDatabase() {
    std::string path = config_.supervisor.database + ".lock";
    lock_fd_.Reset(open(path.c_str(), O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600));
    if (!lock_fd_) return Status::FromErrno("open lock file " + path + " (does the directory exist and is it writable?)");
    if (flock(lock_fd_.get(), LOCK_EX | LOCK_NB) != 0) {
      char buf[32] = {};
      (void)!pread(lock_fd_.get(), buf, sizeof buf - 1, 0);
      return Status::Busy("another droverd (pid " + std::string(buf[0] ? buf : "?") + ") is already running on " +
                          config_.supervisor.database + "; stop it first");
    }
    std::string pid = std::to_string(getpid());
    if (ftruncate(lock_fd_.get(), 0) != 0 || pwrite(lock_fd_.get(), pid.data(), pid.size(), 0) < 0) {
      return Status::FromErrno("write " + path);
    }
    return Status::Ok();
  }

  Status WritePidfile() {
    if (config_.supervisor.pidfile.empty()) return Status::Ok();
    UniqueFd fd(open(config_.supervisor.pidfile.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0644));
    if (!fd) return Status::FromErrno("open pidfile " + config_.supervisor.pidfile);
    std::string pid = std::to_string(getpid()) + "\n";
    return WriteAll(fd.get(), pid.data(), pid.size()).Prefixed("write pidfile " + config_.supervisor.pidfile);
  }

  void AddFd(int fd) {
    epoll_event ev{};
    ev.events = EPOLLIN;
    ev.data.fd = fd;
    epoll_ctl(epoll_.get(), EPOLL_CTL_ADD, fd, &ev);
  }

  // The lifecycle's timings, from the configuration (again after each reload).
  void UpdatePolicy() {
    const SupervisorConfig& s = config_.supervisor;
    policy_.startsecs_us = Us(s.startsecs);
    policy_.startretries = s.startretries;
    policy_.hang_timeout_us = Us(s.hang_timeout);
    policy_.hang_grace_us = 5'000'000;
    // Workers stop their jobs at shutdown_timeout and need kill_after to see them go.
    policy_.stop_grace_us = Us(s.shutdown_timeout) + 10'000'000;
    policy_.restart_delay_us = [this](int failures) {
      return Us(BackoffDelay({config_.supervisor.restart_delay, config_.supervisor.restart_delay_max, 0.1}, failures, rng_));
    };
  }

  std::unique_ptr<Child> MakeChild(const std::string& pool, int index) {
    auto c = std::make_unique<Child>(pool.empty() ? "scheduler" : "worker:" + pool + ":" + std::to_string(index),
                                     &policy_);
    c->pool = pool;
    c->index = index;
    return c;
  }

  // Descriptors held back for restarting children and re-queueing their jobs when the process has
  // run out (EMFILE): released just for that, taken again afterwards.
  void ReleaseFdReserve() {
    for (UniqueFd& fd : fd_reserve_) fd.Reset();
  }
  void RefillFdReserve() {
    for (UniqueFd& fd : fd_reserve_) {
      if (!fd) fd.Reset(open("/dev/null", O_RDONLY | O_CLOEXEC));
    }
  }

  // Carries out what the lifecycle asked for.
  void Act(Child& c, LifecycleActions a) {
    if (a.kill && c.alive()) kill(c.pid, SIGKILL);
    if (a.terminate && c.alive()) kill(c.pid, SIGTERM);
    if (a.spawn) Spawn(c);
  }

  void BuildChildren() {
    children_.push_back(MakeChild("", 0));
    for (const auto& [name, pool] : config_.pools) {
      for (int i = 0; i < pool.workers; ++i) children_.push_back(MakeChild(name, i));
    }
  }

  // --- forking ---

  // Starts `c`: through the spare when one is idle, else by a fork of its own.
  void Spawn(Child& c) {
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
    pid_t pid = fork();
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

  void Started(Child& c, pid_t pid, UniqueFd pipe) {
    SetNonBlocking(pipe.get(), true).ok();
    c.pipe = std::move(pipe);
    c.pid = pid;
    c.life.OnSpawned(MonotonicUs());
    c.started_wall_ms = NowMs();
    c.jobs.clear();
    c.pgids.clear();
    c.inbuf.clear();
  }

  void SpawnFailed(Child& c) {
    c.life.OnSpawnFailed(MonotonicUs());
    LogRestartPlan(c);
  }

  // --- the spare (spare.h) ---

  bool WantSpare() const { return config_.supervisor.spare && !spare_ && !shutting_down_; }

  bool SpareIdle() const { return spare_ && spare_->alive() && spare_->life.state() == ProcState::kSpare; }

  void StartSpare() {
    spare_ = std::make_unique<Child>("spare", &policy_, true);
    Spawn(*spare_);
  }

  // Turns the idle spare into `c`; false when there is none or it cannot be told.
  bool HandOver(Child& c) {
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
  void RetireSpare() {
    if (!spare_) return;
    // Not SIGTERM: closing the pipe lets it finish a re-queue it is doing; the lifecycle's kill
    // deadline covers a spare that does not go.
    (void)spare_->life.OnRetire(MonotonicUs());
    spare_->commands.Reset();
    if (spare_->alive()) retiring_.push_back(std::move(spare_));
    spare_.reset();
    timers_.SetEarliest({kSpare}, MonotonicUs());
  }

  [[noreturn]] void SpareMain(int report_fd, int command_fd, pid_t parent) {
    DropLoggers();  // closes the supervisor's log file before fds are renumbered
    int fds[] = {report_fd, command_fd};
    ResetChildAfterFork(fds, parent);
    SetProcessTitle("drover: spare");
    if (!SetupLogging("spare", LogOptions{config_.supervisor.log_level, config_.supervisor.log_file}).ok()) _exit(1);
    JoinOwnCgroup();  // now, while idle: it costs milliseconds
    std::unique_ptr<JobStore> store = OpenChildStore("spare");
    // The first use of each statement and of the page cache happens now, not when needed.
    (void)store->Recover("spare@" + std::to_string(getpid()), false, "");
    size_t bytes = PrefaultWritableMemory(64 << 20);
    spdlog::debug("ready; {} KiB made private ahead of use", bytes >> 10);
    std::string name = ServeAsSpare(store.get(), fds[1], fds[0]);
    close(fds[1]);
    for (const auto& c : children_) {
      if (c->name == name) RunChild(*c, fds[0], std::move(store), true);
    }
    if (!name.empty()) spdlog::error("spare: asked to become unknown process \"{}\"", name);
    _exit(name.empty() ? 0 : 1);
  }

  [[noreturn]] void ChildMain(const Child& c, int report_fd, pid_t parent) {
    DropLoggers();  // closes the supervisor's log file before fds are renumbered
    int fds[] = {report_fd};
    ResetChildAfterFork(fds, parent);
    RunChild(c, fds[0], nullptr, false);
  }

  // Puts this child, and so the jobs it will start, into a cgroup of its own (jobs/job_cgroup.h).
  void JoinOwnCgroup() {
    if (job_cgroups_.empty()) return;
    Status s = JoinProcessCgroup(job_cgroups_);
    if (!s.ok()) spdlog::warn("{}; its jobs are contained by their process groups only", s.ToString());
  }

  // This child's database connection; exits (logged) when it cannot be opened.
  std::unique_ptr<JobStore> OpenChildStore(const std::string& who) {
    // Routine maintenance is the scheduler's (Maintain() each tick), not every commit's.
    StoreConfig sc = StoreConfigFor(config_.supervisor);
    sc.background_maintenance = true;
    Result<std::unique_ptr<JobStore>> store = OpenJobStore(sc);
    if (!store.ok()) {
      spdlog::error("{} cannot start: {}", who, store.status().ToString());
      spdlog::default_logger()->flush();
      _exit(1);
    }
    return std::move(store).value();
  }

  // The child's own part of a start; `store` is the spare's open connection, or null.
  // `in_cgroup`: the spare joined its cgroup already.
  [[noreturn]] void RunChild(const Child& c, int report_fd, std::unique_ptr<JobStore> store, bool in_cgroup) {
    SetNonBlocking(report_fd, true).ok();
    std::string title = c.pool.empty() ? "drover: scheduler" : "drover: worker " + c.pool + "#" + std::to_string(c.index);
    SetProcessTitle(title);
    LogOptions lo{config_.supervisor.log_level, config_.supervisor.log_file};
    if (!SetupLogging(c.name, lo).ok()) _exit(1);
    if (!in_cgroup && !c.pool.empty()) JoinOwnCgroup();
    if (!store) store = OpenChildStore(c.pool.empty() ? "scheduler" : "worker");
    int code;
    if (c.pool.empty()) {
      SchedulerOptions so{&config_, report_fd, store.get()};
      code = RunScheduler(so);
    } else {
      WorkerOptions wo{c.name, &config_, &config_.pools.at(c.pool), &handlers_, report_fd, store.get(), job_cgroups_};
      code = RunWorker(wo);
    }
    spdlog::default_logger()->flush();
    _exit(code);
  }

  void LogRestartPlan(const Child& c) {
    if (c.life.state() == ProcState::kFatal) {
      spdlog::error("{}: gave up after {} rapid failures (startretries = {}); `droverctl start {}` tries again",
                    c.name, c.life.rapid_failures(), config_.supervisor.startretries, c.name);
    } else if (c.life.state() == ProcState::kBackoff) {
      Duration d((std::max<std::int64_t>(0, c.life.restart_at_us() - MonotonicUs()) + 999) / 1000);
      spdlog::info("{}: restarting in {}", c.name, FormatDuration(d));
    }
  }

  // --- reaping and recovery ---

  void Reap() {
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

  void KillOrphans() {
    OrphanKill k = drover::KillOrphans([this](pid_t p) { return FindByPid(p) == nullptr; });
    if (k.killed > 0) spdlog::warn("killed {} orphaned job process(es)", k.killed);
    if (k.left > 0) spdlog::error("{} orphaned process(es) or group(s) SIGKILLed but not gone within 200 ms", k.left);
  }

  void OnExit(Child& c, int st) {
    std::int64_t now = MonotonicUs();
    std::string how = DescribeWait(st);
    std::string worker_id = c.pool.empty() ? "" : c.worker_id();
    std::string who = c.name + " (pid " + std::to_string(c.pid) + ") " + how;
    // Job process groups the worker reported go too (members that are not orphans), and all
    // that its jobs' cgroups hold.
    for (pid_t pg : c.pgids) kill(-pg, SIGKILL);
    if (!job_cgroups_.empty()) KillJobCgroups(job_cgroups_, c.pid);
    epoll_ctl(epoll_.get(), EPOLL_CTL_DEL, c.pipe.get(), nullptr);
    c.pipe.Reset();
    c.last_exit = how;
    c.pid = 0;
    c.jobs.clear();
    c.pgids.clear();
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
  void RecoverJobs(const RecoverRequest& r) {
    if (SpareIdle()) {
      std::string cmd = RecoverCommand(r);
      if (WriteAll(spare_->commands.get(), cmd.data(), cmd.size()).ok()) {
        spare_->recoveries.push_back(r);
        return;
      }
    }
    RecoverJobsHere(r);
  }

  void RecoverJobsHere(const RecoverRequest& r) {
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

  static void LogRecovered(const std::string& worker_id, size_t n) {
    if (n > 0) spdlog::warn("re-queued {} job(s) of {} at once", n, worker_id);
  }

  // A spare's (or the process it became) answer to a recover command.
  void OnRecoverReply(Child& c, const Report& reply) {
    auto it = std::find_if(c.recoveries.begin(), c.recoveries.end(),
                           [&](const RecoverRequest& r) { return r.worker_id == reply.worker_id; });
    if (it == c.recoveries.end()) return;
    RecoverRequest r = std::move(*it);
    c.recoveries.erase(it);
    if (reply.kind == Report::Kind::kRecovered) return LogRecovered(reply.worker_id, static_cast<size_t>(reply.count));
    spdlog::error("{} could not re-queue the jobs of {}: {}; trying again here", c.name, reply.worker_id, reply.text);
    RecoverJobsHere(r);
  }

  // --- the loop ---

  bool NoneAlive() const {
    for (const auto& c : children_) {
      if (c->alive()) return false;
    }
    return retiring_.empty() && !(spare_ && spare_->alive());
  }

  // The first live or waiting child (current or retiring) for which `match` holds.
  template <typename Pred>
  Child* Find(Pred match) {
    for (auto* list : {&children_, &retiring_}) {
      for (auto& c : *list) {
        if (match(*c)) return c.get();
      }
    }
    return spare_ && match(*spare_) ? spare_.get() : nullptr;
  }
  Child* FindByPid(pid_t pid) {
    return Find([&](const Child& c) { return c.pid == pid; });
  }
  Child* FindByPipe(int fd) {
    return Find([&](const Child& c) { return c.pipe.get() == fd; });
  }

  void Wait(int timeout_ms) {
    epoll_event events[64];
    int n = epoll_wait(epoll_.get(), events, 64, timeout_ms);
    for (int i = 0; i < n; ++i) {
      int fd = events[i].data.fd;
      if (fd == sig_fd_.get()) {
        OnSignal();
      } else if (control_.Owns(fd)) {
        control_.OnEvent(fd, events[i].events,
                         [this](const std::string& line, const ControlServer::Peer& peer) { return Dispatch(line, peer); });
      } else if (Child* c = FindByPipe(fd)) {
        OnReport(*c);
      }
    }
  }

  // The earliest deadline of a process's lifecycle (its own state machine keeps them), or none.
  std::int64_t NextLifecycleDeadline() const {
    std::int64_t next = TimerSet::kNever;
    auto consider = [&](const Child& c) {
      if (std::int64_t due = c.life.NextDeadline(); due > 0) next = std::min(next, due);
    };
    for (auto& c : children_) consider(*c);
    for (auto& c : retiring_) consider(*c);
    if (spare_) consider(*spare_);
    return next;
  }

  void RunTimers(std::int64_t now) {
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
        case kForceStop: ForceStop(); break;
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

  void OnSignal() {
    signalfd_siginfo si;
    while (read(sig_fd_.get(), &si, sizeof si) == sizeof si) {
      switch (si.ssi_signo) {
        case SIGCHLD: Reap(); break;
        case SIGHUP: (void)Reload(true).ok(); break;
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

  void OnReport(Child& c) {
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
        case Report::Kind::kHeartbeat: c.jobs = std::move(r.ids); break;
        case Report::Kind::kGroupStarted:
          // Never a group that is not a job's: kill(-1) or droverd's own group would be fatal.
          if (r.pgid > 1 && r.pgid != getpgrp() && r.pgid != c.pid) c.pgids.push_back(r.pgid);
          break;
        case Report::Kind::kGroupEnded: std::erase(c.pgids, r.pgid); break;
        case Report::Kind::kSpareIdle:
          c.life.OnReady(MonotonicUs());
          spdlog::debug("spare: idle (pid {})", c.pid);
          break;
        case Report::Kind::kRecovered:
        case Report::Kind::kRecoverFailed: OnRecoverReply(c, r); break;
        case Report::Kind::kRecycle:
          if (!c.life.retired() && !shutting_down_) Replace(c, "recycled: " + r.text);
          break;
        case Report::Kind::kUnknown: break;
      }
    }
  }

  // Starts a fresh process in `c`'s slot now and lets the old one finish its jobs.
  void Replace(Child& c, const std::string& why) {
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


  void Shutdown() {
    spdlog::info("shutting down: running jobs get up to {}", FormatDuration(config_.supervisor.shutdown_timeout));
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

  void ForceStop() {
    shutting_down_ = true;
    for (auto* list : {&children_, &retiring_}) {
      for (auto& c : *list) {
        if (!c->alive()) continue;
        for (pid_t pg : c->pgids) kill(-pg, SIGKILL);
        kill(c->pid, SIGKILL);
      }
    }
  }

  // --- reload ---

  struct Diff {
    std::vector<std::string> added, changed, removed;
    std::vector<std::string> restart_required;  // keys that take effect only when droverd restarts
    bool empty() const { return added.empty() && changed.empty() && removed.empty() && restart_required.empty(); }
  };

  Diff Compare(const Config& next) const {
    Diff d;
    bool jobs_changed = next.jobs != config_.jobs || next.supervisor.lease != config_.supervisor.lease ||
                        next.supervisor.shutdown_timeout != config_.supervisor.shutdown_timeout ||
                        next.supervisor.hang_timeout != config_.supervisor.hang_timeout;
    for (const auto& [name, pool] : next.pools) {
      auto it = config_.pools.find(name);
      if (it == config_.pools.end()) d.added.push_back("pool:" + name);
      else if (!(it->second == pool) || jobs_changed) d.changed.push_back("pool:" + name);
    }
    for (const auto& [name, pool] : config_.pools) {
      if (!next.pools.count(name)) d.removed.push_back("pool:" + name);
    }
    if (jobs_changed || next.schedules != config_.schedules || next.scheduler != config_.scheduler) {
      d.changed.push_back("scheduler");
    }
    if (next.supervisor.database != config_.supervisor.database) d.restart_required.push_back("database");
    if (next.supervisor.socket != config_.supervisor.socket) d.restart_required.push_back("socket");
    return d;
  }

  Result<Config> Reread() {
    Result<Config> next = LoadConfig(config_.path);
    if (!next.ok()) return next.status();
    DROVER_RETURN_IF_ERROR(CheckHandlers(*next, handlers_));
    return next;
  }

  Result<Diff> Reload(bool from_signal) {
    Result<Config> next = Reread();
    if (!next.ok()) {
      spdlog::error("reload rejected, keeping the running configuration: {}", next.status().ToString());
      return next.status();
    }
    Diff d = Compare(*next);
    for (const std::string& key : d.restart_required) {
      spdlog::warn("reload: a change of [supervisor] {} takes effect only after a restart of droverd", key);
    }
    next->supervisor.database = config_.supervisor.database;
    next->supervisor.socket = config_.supervisor.socket;
    config_ = std::move(next).value();
    UpdatePolicy();
    spdlog::set_level(spdlog::level::from_str(config_.supervisor.log_level));
    if (from_signal || !d.empty()) spdlog::info("reloaded {}: {} added, {} changed, {} removed", config_.path,
                                                d.added.size(), d.changed.size(), d.removed.size());
    // Rebuild the child list: keep unchanged children, replace changed ones gracefully.
    std::vector<std::unique_ptr<Child>> next_children;
    auto changed = [&](const std::string& key) {
      return std::find(d.changed.begin(), d.changed.end(), key) != d.changed.end();
    };
    for (auto& c : children_) {
      std::string key = c->pool.empty() ? "scheduler" : "pool:" + c->pool;
      bool keep = c->pool.empty() || (config_.pools.count(c->pool) && c->index < config_.pools.at(c->pool).workers);
      if (keep && !changed(key)) {
        next_children.push_back(std::move(c));
        continue;
      }
      Act(*c, c->life.OnRetire(MonotonicUs()));
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
    for (Child* c : fresh) Act(*c, c->life.OnStart(MonotonicUs()));
    return d;
  }

  // --- control requests ---

  json ProcessJson(const Child& c) const {
    json j;
    j["name"] = c.name;
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
    if (c.alive()) j["started_at"] = FormatRfc3339(c.started_wall_ms);
    return j;
  }

  // Children named by `names`: exact names, "all", "POOL:*" / "worker:POOL:*" / "pool:POOL".
  Result<std::vector<Child*>> Select(const std::vector<std::string>& names) {
    std::vector<Child*> out;
    for (const std::string& n : names) {
      size_t before = out.size();
      for (auto& c : children_) {
        bool match = n == "all" || n == c->name || (!c->pool.empty() && (n == c->pool + ":*" ||
                                                                         n == "worker:" + c->pool + ":*" ||
                                                                         n == "pool:" + c->pool));
        if (match && std::find(out.begin(), out.end(), c.get()) == out.end()) out.push_back(c.get());
      }
      if (out.size() == before) return Status::NotFound("no such process: " + n + " (see `droverctl status`)");
    }
    return out;
  }

  static json DiffJson(const Diff& d) {
    return {{"added", d.added}, {"changed", d.changed}, {"removed", d.removed}, {"restart_required", d.restart_required}};
  }

  // The socket's `enqueue` (enqueue_group's one verb): args are TYPE, PAYLOAD and optional
  // "queue=Q", "priority=N", "delay_ms=N", "expires_at_ms=T", "max_attempts=N", "unique_key=K"
  // (T: milliseconds since the epoch). Only configured job
  // types; the store checks the payload. The connection is opened for the request only.
  Result<EnqueueResult> EnqueueForPeer(const std::vector<std::string>& args) {
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
      long long n = std::strtoll(value.c_str(), &end, 10);
      bool number = !value.empty() && *end == '\0';
      if (key == "queue" && !value.empty()) {
        r.queue = value;
      } else if (key == "priority" && number) {
        r.priority = static_cast<int>(n);
      } else if (key == "max_attempts" && number && n >= 1) {
        r.max_attempts = static_cast<int>(n);
      } else if (key == "delay_ms" && number && n >= 0) {
        r.run_at_ms = NowMs() + n;
      } else if (key == "expires_at_ms" && number && n > 0) {
        r.expires_at_ms = n;
      } else if (key == "unique_key" && !value.empty() && value.rfind("schedule:", 0) != 0) {
        r.unique_key = value;
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
  bool InJobSession(pid_t pid) {
    pid_t sid = getsid(pid);
    if (sid <= 0) return false;
    return Find([sid](const Child& c) { return std::find(c.pgids.begin(), c.pgids.end(), sid) != c.pgids.end(); }) !=
           nullptr;
  }

  // start, stop or restart of one process; returns what happened, for the operator.
  std::string ProcessVerb(Child& c, const std::string& cmd) {
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

  std::string Dispatch(const std::string& line, const ControlServer::Peer& peer) {
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
      return ErrorAnswer(ControlError::kPermissionDenied, "permission denied: members of enqueue_group may only enqueue");
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
    } else if (cmd == "start" || cmd == "stop" || cmd == "restart") {
      if (shutting_down_) return ErrorAnswer(ControlError::kShuttingDown, "droverd is shutting down");
      if (args.empty()) return ErrorAnswer(ControlError::kBadRequest, cmd + " needs a process name, POOL:* or all");
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
    } else {
      return ErrorAnswer(ControlError::kUnknownCommand, "unknown command \"" + cmd + "\"");
    }
    return OkAnswer(result);
  }

  static int SignalNumber(std::string s) {
    if (!s.empty() && std::isdigit(static_cast<unsigned char>(s[0]))) return std::atoi(s.c_str());
    if (s.rfind("SIG", 0) == 0) s = s.substr(3);
    for (int sig = 1; sig < NSIG; ++sig) {
      const char* a = sigabbrev_np(sig);
      if (a && s == a) return sig;
    }
    return -1;
  }

  // args: [NAME or "" for all, N lines]
  std::string Tail(const std::vector<std::string>& args) {
    if (config_.supervisor.log_file.empty()) {
      return ErrorAnswer(ControlError::kFailed, "logs go to stderr (under systemd: `journalctl -u drover`); set [supervisor] log_file to use tail");
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

  Config config_;
  const HandlerRegistry& handlers_;
  std::mt19937_64 rng_;
  LifecyclePolicy policy_;  // from config_; every child's lifecycle points here
  UniqueFd lock_fd_, sig_fd_, epoll_;
  ControlServer control_;
  std::vector<std::unique_ptr<Child>> children_;
  std::vector<std::unique_ptr<Child>> retiring_;
  // Forked again this long after the spare was used, so the fork does not delay the new
  // process's start (the supervisor's own copy-on-write faults come after a fork).
  static constexpr std::int64_t kSpareDelayUs = 50'000;
  static constexpr std::int64_t kSweepIntervalUs = 1'000'000;
  // The supervisor's own deadlines; each process's lifecycle keeps its own (NextLifecycleDeadline).
  enum TimerKind { kSpare, kForceStop, kWatchdog, kSweep };
  std::unique_ptr<Child> spare_;  // null: none (yet); in BACKOFF after a crash
  bool shutting_down_ = false;
  bool ready_sent_ = false;
  std::string job_cgroups_;  // where workers put job cgroups; empty: none (jobs/job_cgroup.h)
  UniqueFd fd_reserve_[8];
  std::int64_t watchdog_us_ = 0;  // systemd's watchdog interval; 0: none
  TimerSet timers_;
};

}  // namespace

Status CheckHandlers(const Config& config, const HandlerRegistry& handlers) {
  std::string missing;
  for (const auto& [name, job] : config.jobs) {
    if (!job.is_command() && handlers.Find(name) == nullptr) missing += (missing.empty() ? "" : ", ") + name;
  }
  if (missing.empty()) return Status::Ok();
  return Status::InvalidArgument(config.path + ": [jobs." + missing.substr(0, missing.find(',')) +
                                 "] has no `command` and this program registers no in-process handler for it "
                                 "(missing: " + missing + "); add `command = [...]` or run a program that "
                                 "registers the handler");
}

int RunSupervisor(Config config, const HandlerRegistry& handlers) {
  return Supervisor(std::move(config), handlers).Run();
}

}  // namespace drover
