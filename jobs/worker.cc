#include "jobs/worker.h"

#include <signal.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/inotify.h>
#include <sys/signalfd.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <memory>
#include <random>
#include <set>
#include <unordered_map>

#include <spdlog/spdlog.h>

#include "common/time_util.h"
#include "jobs/command_run.h"
#include "jobs/handler_pool.h"
#include "jobs/job_json.h"
#include "jobs/job_store.h"
#include "jobs/retry_policy.h"
#include "jobs/spawner.h"
#include "jobs/status_line.h"

namespace drover {
namespace {

constexpr std::int64_t kProgressIntervalUs = 250'000;
constexpr std::int64_t kPollIntervalUs = 1'000'000;
constexpr std::int64_t kHygieneIntervalUs = 5'000'000;
constexpr int kLoggedBadStatusLines = 10;  // per attempt

std::int64_t Us(Duration d) { return d.count() * 1000; }

struct RunningJob {
  ClaimedJob job;
  const JobTypeConfig* type = nullptr;
  std::unique_ptr<CommandRun> cmd;               // command jobs
  std::unique_ptr<std::atomic<bool>> cancel;     // in-process jobs
  std::int64_t deadline_us = 0;                  // timeout; 0 = none
  bool timed_out = false, cancelled = false, interrupted = false;
  std::optional<ProgressUpdate> pending;         // progress not yet written
  std::int64_t last_progress_us = 0;
  int bad_status_lines = 0;
};

enum class FdKind { kSignal, kInotify, kHandlers, kStdout, kStderr, kStatus };
using Stream = CommandRun::Stream;
constexpr Stream kStreams[] = {Stream::kStdout, Stream::kStderr, Stream::kStatus};
FdKind KindOf(Stream s) {
  return s == Stream::kStdout ? FdKind::kStdout : s == Stream::kStderr ? FdKind::kStderr : FdKind::kStatus;
}
struct FdRef {
  FdKind kind;
  std::int64_t job = 0;
};

class Worker {
 public:
  explicit Worker(const WorkerOptions& o)
      : o_(o),
        store_(o.store),
        worker_id_(o.name + "@" + std::to_string(getpid())),
        rng_(std::random_device{}() ^ getpid()),
        stop_after_spawn_(getenv("DROVER_TEST_STOP_AFTER_SPAWN")) {}

  int Run() {
    Status s = Init();
    if (!s.ok()) {
      spdlog::error("worker cannot start: {}", s.ToString());
      return 1;
    }
    Report("ready");
    spdlog::info("started; queues [{}], concurrency {}", Join(o_.pool->queues), o_.pool->concurrency);
    while (true) {
      std::int64_t now = MonotonicUs();
      RunTimers(now);
      if (draining_ && running_.empty() && completions_.empty()) break;
      FlushAndClaim();
      Wait(NextTimeout(MonotonicUs()));
    }
    spdlog::info("stopped after {} jobs", jobs_done_);
    return 0;
  }

 private:
  Status Init() {
    sigset_t set;
    sigemptyset(&set);
    for (int sig : {SIGTERM, SIGINT, SIGCHLD, SIGHUP}) sigaddset(&set, sig);
    if (sigprocmask(SIG_BLOCK, &set, nullptr) != 0) return Status::FromErrno("sigprocmask");
    signal(SIGPIPE, SIG_IGN);
    sig_fd_.Reset(signalfd(-1, &set, SFD_CLOEXEC | SFD_NONBLOCK));
    if (!sig_fd_) return Status::FromErrno("signalfd");
    epoll_.Reset(epoll_create1(EPOLL_CLOEXEC));
    if (!epoll_) return Status::FromErrno("epoll_create1");
    DROVER_RETURN_IF_ERROR(Watch(sig_fd_.get(), {FdKind::kSignal}));


    // Commits by other processes touch the WAL file: that is the wake-up for new jobs.
    std::filesystem::path db(o_.config->supervisor.database);
    wal_name_ = db.filename().string() + "-wal";
    inotify_.Reset(inotify_init1(IN_CLOEXEC | IN_NONBLOCK));
    if (!inotify_) return Status::FromErrno("inotify_init1");
    if (inotify_add_watch(inotify_.get(), db.parent_path().c_str(), IN_MODIFY | IN_CREATE) < 0) {
      spdlog::warn("cannot watch {} for new jobs ({}); falling back to polling every second",
                   db.parent_path().string(), strerror(errno));
    }
    DROVER_RETURN_IF_ERROR(Watch(inotify_.get(), {FdKind::kInotify}));
    Result<std::int64_t> v = store_->DataVersion();
    if (!v.ok()) return v.status();
    data_version_ = *v;

    std::int64_t now = MonotonicUs();
    started_us_ = now;
    hb_interval_us_ = std::clamp<std::int64_t>(Us(o_.config->supervisor.hang_timeout) / 4, 50'000, 1'000'000);
    next_hb_us_ = now;
    next_lease_us_ = now + Us(o_.config->supervisor.lease) / 3;
    next_poll_us_ = now + kPollIntervalUs;
    next_hygiene_us_ = now + kHygieneIntervalUs;
    return Status::Ok();
  }

  Status Watch(int fd, FdRef ref) {
    epoll_event ev{};
    ev.events = EPOLLIN;
    ev.data.fd = fd;
    if (epoll_ctl(epoll_.get(), EPOLL_CTL_ADD, fd, &ev) != 0) return Status::FromErrno("epoll_ctl");
    fds_[fd] = ref;
    return Status::Ok();
  }
  void Unwatch(int fd) {
    if (fd < 0) return;
    epoll_ctl(epoll_.get(), EPOLL_CTL_DEL, fd, nullptr);
    fds_.erase(fd);
  }

  void Report(const std::string& line) {
    if (o_.supervisor_fd < 0) return;
    std::string msg = line + "\n";
    // Non-blocking: a stuck supervisor must not stall the jobs; it notices silence by itself.
    (void)!write(o_.supervisor_fd, msg.data(), msg.size());
  }

  static std::string Join(const std::vector<std::string>& v) {
    std::string out;
    for (const auto& s : v) out += (out.empty() ? "" : ", ") + s;
    return out;
  }

  // --- the loop ---

  void Wait(int timeout_ms) {
    epoll_event events[64];
    int n = epoll_wait(epoll_.get(), events, 64, timeout_ms);
    for (int i = 0; i < n; ++i) {
      auto it = fds_.find(events[i].data.fd);
      if (it == fds_.end()) continue;
      FdRef ref = it->second;
      switch (ref.kind) {
        case FdKind::kSignal: OnSignal(); break;
        case FdKind::kInotify: OnInotify(); break;
        case FdKind::kHandlers: OnHandlers(); break;
        case FdKind::kStdout:
        case FdKind::kStderr:
        case FdKind::kStatus: OnJobOutput(ref); break;
      }
    }
  }

  int NextTimeout(std::int64_t now) {
    if (!completions_.empty() || (claim_wanted_ && !draining_ && FreeSlots() > 0 && !store_backoff_)) return 0;
    std::int64_t next = std::min({next_hb_us_, next_poll_us_, next_hygiene_us_});
    if (!running_.empty()) next = std::min(next, next_lease_us_);
    if (due_us_ > 0) next = std::min(next, due_us_);
    if (recheck_us_ > 0) next = std::min(next, recheck_us_);
    if (handlers_ && handlers_->HasQueued()) next = std::min(next, now + 1000);
    if (drain_deadline_us_ > 0) next = std::min(next, drain_deadline_us_);
    for (const auto& [id, r] : running_) {
      if (r.deadline_us > 0 && !r.timed_out) next = std::min(next, r.deadline_us);
      if (r.cmd && r.cmd->kill_at_us() > 0) next = std::min(next, r.cmd->kill_at_us());
      if (r.pending) next = std::min(next, r.last_progress_us + kProgressIntervalUs);
    }
    return static_cast<int>(std::clamp<std::int64_t>((next - now + 999) / 1000, 0, 60'000));
  }

  int FreeSlots() const { return o_.pool->concurrency - static_cast<int>(running_.size()); }

  void FlushAndClaim() {
    int want = (!draining_ && claim_wanted_ && !store_backoff_) ? FreeSlots() : 0;
    if (completions_.empty() && want <= 0) return;
    if (store_backoff_ && MonotonicUs() < store_retry_us_) return;
    std::vector<CompletionResult> results;
    Result<std::vector<ClaimedJob>> claimed =
        store_->CompleteAndClaim(worker_id_, completions_, &results, o_.pool->queues, std::max(want, 0));
    AfterOwnWrite();
    if (!claimed.ok()) {
      // Keep the completions: nothing is lost, they are written once the store answers.
      spdlog::error("{}; retrying in 1s", claimed.status().ToString());
      store_backoff_ = true;
      store_retry_us_ = MonotonicUs() + 1'000'000;
      return;
    }
    store_backoff_ = false;
    bool retry_pending = false;
    for (const CompletionResult& r : results) {
      retry_pending |= !r.stale && r.state == JobState::kQueued;
      if (r.stale) {
        spdlog::warn("job {}: outcome not recorded, this worker no longer owns it (recovered or reaped)", r.id);
      } else {
        spdlog::debug("job {} -> {}", r.id, JobStateName(r.state));
      }
    }
    jobs_done_ += static_cast<std::int64_t>(completions_.size());
    completions_.clear();
    if (want > 0) {
      claim_wanted_ = static_cast<int>(claimed->size()) == want;
      for (ClaimedJob& j : *claimed) Start(std::move(j));
      if (handlers_) handlers_->Kick();
    }
    if ((want > 0 && !claim_wanted_) || retry_pending) ScheduleDue();
    CheckHygiene(false);
  }

  void ScheduleDue() {
    Result<std::optional<std::int64_t>> next = store_->NextRunAt();
    due_us_ = 0;
    if (!next.ok() || !next->has_value()) return;
    std::int64_t delta_ms = **next - NowMs();
    if (delta_ms <= 0) delta_ms = 1;  // due but not claimable (paused, other queue): poll decides
    if (delta_ms * 1000 < kPollIntervalUs) due_us_ = MonotonicUs() + delta_ms * 1000;
  }

  void RunTimers(std::int64_t now) {
    if (now >= next_hb_us_) {
      std::string line = "hb";
      int n = 0;
      for (const auto& [id, r] : running_) {
        if (n++ == 32) break;
        line += " " + std::to_string(id);
      }
      Report(line);
      next_hb_us_ = now + hb_interval_us_;
    }
    if (!running_.empty() && now >= next_lease_us_) {
      Result<int> n = store_->ExtendLeases(worker_id_);
      AfterOwnWrite();
      if (!n.ok()) spdlog::warn("{}", n.status().ToString());
      next_lease_us_ = now + Us(o_.config->supervisor.lease) / 3;
    }
    if (now >= next_poll_us_) {
      claim_wanted_ = true;
      CheckCancels();
      next_poll_us_ = now + kPollIntervalUs;
    }
    if (handlers_) handlers_->Kick();
    if (recheck_us_ > 0 && now >= recheck_us_) {
      recheck_us_ = 0;
      if (!NewCommits() && ++recheck_step_ < 4) recheck_us_ = now + (1000LL << (2 * recheck_step_));
    }
    if (due_us_ > 0 && now >= due_us_) {
      claim_wanted_ = true;
      due_us_ = 0;
    }
    if (now >= next_hygiene_us_) {
      RemoveDrainedJobCgroups();
      CheckHygiene(true);
      next_hygiene_us_ = now + kHygieneIntervalUs;
    }
    if (drain_deadline_us_ > 0 && now >= drain_deadline_us_) {
      drain_deadline_us_ = 0;
      for (auto& [id, r] : running_) {
        r.interrupted = true;
        Stop(r, "shutdown timeout");
      }
      // Handlers that ignore cancellation cannot hold the shutdown: give them kill_after.
      hard_deadline_us_ = now + 5'000'000;
    }
    if (hard_deadline_us_ > 0 && now >= hard_deadline_us_) {
      // Handlers still running ignore their cancellation flag: record them as interrupted and
      // leave without joining their threads.
      for (auto& [id, r] : running_) {
        completions_.push_back({id, r.job.attempt, Completion::Kind::kInterrupted, "interrupted by shutdown", 0});
      }
      Status s = store_->Complete(worker_id_, completions_, nullptr);
      spdlog::warn("{} job(s) did not stop in time; exiting{}", running_.size(), s.ok() ? "" : ": " + s.ToString());
      _exit(0);
    }
    std::vector<std::int64_t> ids;
    for (auto& [id, r] : running_) {
      if (r.deadline_us > 0 && !r.timed_out && now >= r.deadline_us) {
        r.timed_out = true;
        Stop(r, "timeout");
      }
      if (r.cmd) r.cmd->OnTimer(now);
      if (r.pending && now >= r.last_progress_us + kProgressIntervalUs) WriteProgress(r);
    }
  }

  void CheckHygiene(bool periodic) {
    if (draining_) return;
    std::string reason;
    const PoolConfig& p = *o_.pool;
    if (p.max_jobs > 0 && jobs_done_ >= p.max_jobs) reason = "ran " + std::to_string(jobs_done_) + " jobs (max_jobs)";
    if (periodic && p.max_age.count() > 0 && MonotonicUs() - started_us_ >= Us(p.max_age)) {
      reason = "older than max_age " + FormatDuration(p.max_age);
    }
    if (periodic && p.max_memory > 0) {
      std::ifstream statm("/proc/self/statm");
      std::uint64_t size = 0, rss = 0;
      statm >> size >> rss;
      rss *= static_cast<std::uint64_t>(sysconf(_SC_PAGESIZE));
      if (rss > p.max_memory) reason = "RSS " + FormatSize(rss) + " above max_memory " + FormatSize(p.max_memory);
    }
    if (reason.empty()) return;
    spdlog::info("recycling: {}", reason);
    Report("recycle " + reason);
    BeginDrain();
  }

  void BeginDrain() {
    if (draining_) return;
    draining_ = true;
    drain_deadline_us_ = MonotonicUs() + Us(o_.config->supervisor.shutdown_timeout);
  }

  // --- events ---

  void OnSignal() {
    signalfd_siginfo si;
    while (read(sig_fd_.get(), &si, sizeof si) == sizeof si) {
      if (si.ssi_signo == SIGCHLD) {
        Reap();
      } else if (si.ssi_signo == SIGTERM || si.ssi_signo == SIGINT) {
        if (draining_ && drain_deadline_us_ > 0) {
          drain_deadline_us_ = MonotonicUs();  // a second request: stop the jobs now
        } else {
          spdlog::info("stopping: {} running job(s) get up to {}", running_.size(),
                       FormatDuration(o_.config->supervisor.shutdown_timeout));
          BeginDrain();
        }
      }
    }
  }

  // Reads every pending inotify event; true if one was about the WAL file.
  bool DrainInotify() {
    alignas(inotify_event) char buf[4096];
    bool relevant = false;
    ssize_t n;
    while ((n = read(inotify_.get(), buf, sizeof buf)) > 0) {
      for (char* p = buf; p < buf + n;) {
        auto* ev = reinterpret_cast<inotify_event*>(p);
        if (ev->len > 0 && wal_name_ == ev->name) relevant = true;
        p += sizeof(inotify_event) + ev->len;
      }
    }
    return relevant;
  }

  // Our own commits touch the WAL too. Their events are queued by the time the commit returns:
  // drop them here rather than spin on them, and look once for anyone else's commit that may
  // have been among them.
  void AfterOwnWrite() {
    if (!DrainInotify() || NewCommits()) return;
    recheck_step_ = 0;
    recheck_us_ = MonotonicUs() + 1000;
  }

  void OnInotify() {
    if (!DrainInotify()) return;
    // The WAL write that woke us precedes the commit becoming visible (the wal-index update
    // makes no inotify event): look again for a moment, then on a short timer.
    for (int i = 0; i < 20; ++i) {
      if (NewCommits()) return;
      if (i < 4) {
        sched_yield();
      } else {
        timespec ts{0, 10'000};
        nanosleep(&ts, nullptr);
      }
    }
    recheck_step_ = 0;
    recheck_us_ = MonotonicUs() + 1000;
  }

  // True when another connection committed since the last look; then a claim is due.
  bool NewCommits() {
    Result<std::int64_t> v = store_->DataVersion();
    if (!v.ok() || *v == data_version_) return false;  // nothing new, or our own commit
    data_version_ = *v;
    claim_wanted_ = true;
    recheck_us_ = 0;
    if (!running_.empty()) CheckCancels();
    return true;
  }

  void CheckCancels() {
    if (running_.empty()) return;
    Result<std::vector<std::int64_t>> ids = store_->CancelRequested(worker_id_);
    if (!ids.ok()) return;
    for (std::int64_t id : *ids) {
      auto it = running_.find(id);
      if (it == running_.end() || it->second.cancelled) continue;
      it->second.cancelled = true;
      spdlog::info("job {}: cancel requested", id);
      Stop(it->second, "cancel");
    }
  }

  // Asks a job to stop: SIGTERM to its group then SIGKILL after kill_after, or the
  // cancellation flag for a handler.
  void Stop(RunningJob& r, const char* why) {
    if (r.cmd) {
      Duration grace = r.type ? r.type->kill_after : Duration(5000);
      if (r.cmd->Stop(MonotonicUs(), Us(grace))) {
        spdlog::info("job {}: {}: SIGTERM to process group {}", r.job.id, why, r.cmd->pid());
      }
    } else if (r.cancel) {
      r.cancel->store(true);
    }
  }

  // --- starting jobs ---

  void Start(ClaimedJob job) {
    std::int64_t id = job.id;
    RunningJob r;
    r.type = o_.config->FindJob(job.type);
    r.job = std::move(job);
    if (r.type && r.type->timeout.count() > 0) r.deadline_us = MonotonicUs() + Us(r.type->timeout);
    const Handler* handler = o_.handlers ? o_.handlers->Find(r.job.type) : nullptr;
    if (r.type && r.type->is_command()) {
      Status s = StartCommand(r);
      if (!s.ok()) {
        spdlog::error("job {} ({}): {}", id, r.job.type, s.ToString());
        Fail(r, Completion::Kind::kFailed, s.ToString());
        return;
      }
    } else if (handler) {
      if (!handlers_) {
        Result<std::unique_ptr<HandlerPool>> pool = HandlerPool::Create(o_.pool->concurrency);
        if (!pool.ok() || !Watch((*pool)->event_fd(), {FdKind::kHandlers}).ok()) {
          Fail(r, Completion::Kind::kFailed, "cannot start handler threads: " + pool.status().ToString());
          return;
        }
        handlers_ = std::move(pool).value();
      }
      r.cancel = std::make_unique<std::atomic<bool>>(draining_);
      handlers_->Submit(r.job, handler, r.cancel.get());
    } else {
      std::string why = r.type ? "no in-process handler \"" + r.job.type + "\" is registered in this program"
                               : "unknown job type \"" + r.job.type + "\": no [jobs." + r.job.type + "] in " +
                                     o_.config->path + " and no handler registered";
      spdlog::error("job {}: {}", id, why);
      Fail(r, Completion::Kind::kFailedPermanent, why);
      return;
    }
    running_.emplace(id, std::move(r));
  }

  void Fail(const RunningJob& r, Completion::Kind kind, const std::string& error) {
    completions_.push_back({r.job.id, r.job.attempt, kind, error, RetryDelayMs(r)});
  }

  std::int64_t RetryDelayMs(const RunningJob& r) {
    JobTypeConfig defaults;
    const JobTypeConfig& t = r.type ? *r.type : defaults;
    return RetryDelay(r.job.attempt, t.retry_delay, t.retry_delay_max, rng_).count();
  }

  Status StartCommand(RunningJob& r) {
    const JobTypeConfig& t = *r.type;
    SpawnRequest req;
    req.argv = t.command;
    req.env["PATH"] = "/usr/local/bin:/usr/bin:/bin";
    for (const auto& [k, v] : t.env) req.env[k] = v;
    req.env["DROVER_JOB_ID"] = std::to_string(r.job.id);
    req.env["DROVER_JOB_TYPE"] = r.job.type;
    req.env["DROVER_QUEUE"] = r.job.queue;
    req.env["DROVER_ATTEMPT"] = std::to_string(r.job.attempt);
    req.env["DROVER_MAX_ATTEMPTS"] = std::to_string(r.job.max_attempts);
    req.env["DROVER_STATUS_FD"] = std::to_string(kStatusFd);
    if (r.job.payload.size() <= 65536) req.env["DROVER_PAYLOAD"] = r.job.payload;
    if (r.job.checkpoint) req.env["DROVER_CHECKPOINT"] = *r.job.checkpoint;
    req.stdin_data = t.stdin_envelope ? EnvelopeJson(r.job) : r.job.payload;
    req.working_dir = t.working_dir;
    req.user = t.user;
    req.group = t.group;
    req.no_new_privs = t.no_new_privs.value_or(!t.user.empty());
    req.limit_nofile = t.limit_nofile;
    req.limit_as = t.limit_as;
    JobCgroup cgroup;
    // Limits need a cgroup per attempt (milliseconds to enter); without them the job stays in
    // this worker's cgroup.
    if (!o_.job_cgroup_root.empty() && (t.max_processes || t.max_memory)) {
      std::vector<std::string> not_applied;
      Result<JobCgroup> cg = JobCgroup::Create(o_.job_cgroup_root, JobCgroupName(getpid(), r.job.id, r.job.attempt),
                                               {t.max_processes, t.max_memory}, &not_applied);
      if (!not_applied.empty() && limits_warned_.insert(t.name).second) {
        spdlog::warn("[jobs.{}] {} not applied: the job's cgroup has no {} controller (it needs cgroup v2 with "
                     "that controller delegated to droverd)", t.name, not_applied[0],
                     not_applied[0] == "max_processes" ? "pids" : "memory");
      }
      if (cg.ok()) {
        cgroup = std::move(cg).value();
      } else {
        spdlog::warn("job {}: {}; contained by its process group only", r.job.id, cg.status().ToString());
      }
    }
    Result<std::unique_ptr<CommandRun>> run = CommandRun::Start(req, t.max_output, std::move(cgroup));
    if (!run.ok()) return run.status();
    std::unique_ptr<CommandRun> cmd = std::move(run).value();  // from here on its group dies with it
    for (Stream s : kStreams) {
      Status w = Watch(cmd->fd(s), {KindOf(s), r.job.id});
      if (!w.ok()) {
        for (Stream u : kStreams) Unwatch(cmd->fd(u));
        return w;
      }
    }
    pids_[cmd->pid()] = r.job.id;
    if (stop_after_spawn_ && unlink(stop_after_spawn_) == 0) raise(SIGSTOP);
    Report("pg " + std::to_string(cmd->pid()));
    Status s = store_->SetPid(r.job.id, worker_id_, r.job.attempt, cmd->pid());
    AfterOwnWrite();
    if (!s.ok()) spdlog::warn("{}", s.ToString());
    spdlog::debug("job {} ({}) attempt {}: started pid {}", r.job.id, r.job.type, r.job.attempt, cmd->pid());
    r.cmd = std::move(cmd);
    return Status::Ok();
  }

  // --- command job output and exit ---

  void OnJobOutput(FdRef ref) {
    auto it = running_.find(ref.job);
    if (it == running_.end()) return;
    ReadOutput(it->second, ref.kind);
  }

  void ReadOutput(RunningJob& r, FdKind kind) {
    Stream s = kind == FdKind::kStdout ? Stream::kStdout : kind == FdKind::kStderr ? Stream::kStderr : Stream::kStatus;
    std::vector<std::string> lines;
    if (!r.cmd->Read(s, &lines)) {
      Unwatch(r.cmd->fd(s));
      r.cmd->Close(s);
    }
    HandleStatusLines(r, lines);
  }

  void HandleStatusLines(RunningJob& r, const std::vector<std::string>& lines) {
    for (const std::string& line : lines) {
      Result<ProgressUpdate> u = ParseStatusLine(line);
      if (!u.ok()) {
        // A job can write bad lines far faster than a log should take them.
        if (++r.bad_status_lines <= kLoggedBadStatusLines) {
          spdlog::warn("job {}: ignoring status line: {}{}", r.job.id, u.status().ToString(),
                       r.bad_status_lines == kLoggedBadStatusLines ? " (further bad lines of this attempt are not logged)"
                                                                   : "");
        }
        continue;
      }
      MergeProgress(r, std::move(u).value());
    }
  }

  void MergeProgress(RunningJob& r, ProgressUpdate u) {
    if (!r.pending) r.pending.emplace();
    if (u.progress) r.pending->progress = u.progress;
    if (u.message) r.pending->message = std::move(u.message);
    if (u.checkpoint) r.pending->checkpoint = std::move(u.checkpoint);
  }

  void WriteProgress(RunningJob& r) {
    if (!r.pending) return;
    Status s = store_->UpdateProgress(r.job.id, worker_id_, r.job.attempt, r.pending->progress,
                                      r.pending->message, r.pending->checkpoint);
    AfterOwnWrite();
    if (!s.ok()) spdlog::warn("{}", s.ToString());
    r.pending.reset();
    r.last_progress_us = MonotonicUs();
  }

  void Reap() {
    int st;
    pid_t pid;
    while ((pid = waitpid(-1, &st, WNOHANG)) > 0) {
      auto p = pids_.find(pid);
      if (p == pids_.end()) continue;
      std::int64_t id = p->second;
      pids_.erase(p);
      auto it = running_.find(id);
      if (it == running_.end()) continue;
      FinishCommand(id, it->second, st);
    }
  }

  void FinishCommand(std::int64_t id, RunningJob& r, int wait_status) {
    CommandRun& c = *r.cmd;
    std::vector<std::string> lines;
    c.Reaped(wait_status, &lines);
    HandleStatusLines(r, lines);
    Report("pgend " + std::to_string(c.pid()));
    for (Stream s : kStreams) {
      Unwatch(c.fd(s));
      c.Close(s);
    }
    WriteProgress(r);
    ExitFacts facts{wait_status, r.timed_out, r.cancelled, r.interrupted, r.type->timeout,
                    &r.type->permanent_exit_codes};
    ExitOutcome o = ClassifyExit(facts, c.out(), c.out_truncated(), r.type->max_output, c.err_tail());
    Completion done{id, r.job.attempt, o.kind, std::move(o.output), 0};
    if (o.kind == Completion::Kind::kFailed || o.kind == Completion::Kind::kFailedPermanent) {
      done.retry_delay_ms = RetryDelayMs(r);
    }
    spdlog::debug("job {} attempt {}: {}", id, r.job.attempt,
                  done.kind == Completion::Kind::kSucceeded ? "succeeded" : done.output.substr(0, 200));
    completions_.push_back(std::move(done));
    running_.erase(id);
  }

  // --- in-process handlers ---

  void OnHandlers() {
    std::vector<HandlerOutcome> outcomes;
    std::vector<HandlerProgress> progress;
    handlers_->Drain(&outcomes, &progress);
    for (HandlerProgress& p : progress) {
      auto it = running_.find(p.id);
      if (it == running_.end()) continue;
      ProgressUpdate u;
      u.progress = std::clamp(p.fraction, 0.0, 1.0);
      if (!p.message.empty()) u.message = std::move(p.message);
      u.checkpoint = std::move(p.checkpoint);
      MergeProgress(it->second, std::move(u));
    }
    for (HandlerOutcome& o : outcomes) {
      auto it = running_.find(o.id);
      if (it == running_.end()) continue;
      RunningJob& r = it->second;
      if (r.pending && r.pending->checkpoint) WriteProgress(r);
      Completion done{o.id, o.attempt, Completion::Kind::kSucceeded, std::move(o.result.output), 0};
      if (o.result.kind != HandlerResult::Kind::kSucceeded) {
        done.kind = o.result.kind == HandlerResult::Kind::kFail ? Completion::Kind::kFailedPermanent
                                                                : Completion::Kind::kFailed;
        if (r.interrupted) done.kind = Completion::Kind::kInterrupted;
        if (r.timed_out) done.output = "timed out after " + FormatDuration(r.type->timeout) + ": " + done.output;
        done.retry_delay_ms = RetryDelayMs(r);
      }
      completions_.push_back(std::move(done));
      running_.erase(it);
    }
  }

  const WorkerOptions& o_;
  JobStore* const store_;
  const std::string worker_id_;
  std::mt19937_64 rng_;
  const char* const stop_after_spawn_;  // a test's fault point: see worker.h
  UniqueFd epoll_, sig_fd_, inotify_;
  std::unordered_map<int, FdRef> fds_;
  std::unordered_map<pid_t, std::int64_t> pids_;
  std::unordered_map<std::int64_t, RunningJob> running_;
  std::unique_ptr<HandlerPool> handlers_;  // declared after running_: joined first
  std::vector<Completion> completions_;
  std::string wal_name_;
  std::set<std::string> limits_warned_;  // job types whose cgroup limits could not be set
  std::int64_t data_version_ = 0;
  std::int64_t recheck_us_ = 0;
  int recheck_step_ = 0;
  bool claim_wanted_ = true;
  bool draining_ = false;
  bool store_backoff_ = false;
  std::int64_t store_retry_us_ = 0;
  std::int64_t jobs_done_ = 0;
  std::int64_t started_us_ = 0, hb_interval_us_ = 0;
  std::int64_t next_hb_us_ = 0, next_lease_us_ = 0, next_poll_us_ = 0, next_hygiene_us_ = 0, due_us_ = 0;
  std::int64_t drain_deadline_us_ = 0, hard_deadline_us_ = 0;
};

}  // namespace

int RunWorker(const WorkerOptions& options) { return Worker(options).Run(); }

}  // namespace drover
