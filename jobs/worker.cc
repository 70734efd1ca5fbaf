#include "jobs/worker.h"

#include <signal.h>
#include <spdlog/spdlog.h>
#include <sys/epoll.h>
#include <sys/signalfd.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <fstream>
#include <memory>
#include <random>
#include <set>
#include <unordered_map>

#include "common/backoff.h"
#include "common/time_util.h"
#include "common/timer_set.h"
#include "jobs/command_launch.h"
#include "jobs/command_run.h"
#include "jobs/commit_watch.h"
#include "jobs/handler_pool.h"
#include "jobs/progress_buffer.h"
#include "jobs/report_line.h"
#include "jobs/store/job_store.h"

namespace drover {
namespace {

constexpr std::int64_t kPollIntervalUs = 1'000'000;
constexpr std::int64_t kHygieneIntervalUs = 5'000'000;
constexpr std::int64_t kStoreRetryUs = 1'000'000;
constexpr std::int64_t kHardStopUs = 5'000'000;
// A started job's pid (shown by `droverctl show`) goes out with the next claim's transaction,
// or this much later when no claim comes sooner: a transaction per started job costs command
// jobs much of their throughput.
constexpr std::int64_t kPidWriteDelayUs = 100'000;
constexpr double kRetryJitter = 0.25;

// What the loop waits for. The job timers' subject is the job id; the others' is 0.
enum TimerKind {
  kHeartbeat,    // report to the supervisor
  kLease,        // renew the leases of running jobs
  kPoll,         // claim and check cancellations even without a wake-up
  kHygiene,      // recycling checks (max_age, max_memory), emptied job cgroups
  kDue,          // a delayed or retried job becomes due
  kRecheck,      // look again for another process's commit (CommitWatch)
  kStoreRetry,   // the store failed: write and claim again
  kWritePids,    // process ids of started jobs wait no longer for the next claim
  kHandlerKick,  // queued handler tasks want threads
  kDrain,        // the shutdown grace is over: stop the jobs
  kHardStop,     // handlers ignored their cancellation: leave without them
  kJobTimeout,   // a job's timeout
  kJobKill,      // a stopped command's SIGKILL
  kJobProgress,  // write a job's pending progress
};

struct RunningJob {
  ClaimedJob job;
  const JobTypeConfig* type = nullptr;
  std::unique_ptr<CommandRun> cmd;            // command jobs
  std::unique_ptr<std::atomic<bool>> cancel;  // in-process jobs
  bool timed_out = false, cancelled = false, interrupted = false;
  ProgressBuffer progress;
};

enum class FdKind { kSignal, kCommits, kHandlers, kStdout, kStderr, kStatus };
using Stream = CommandRun::Stream;
constexpr Stream kStreams[] = {Stream::kStdout, Stream::kStderr, Stream::kStatus};
FdKind KindOf(Stream s) {
  return s == Stream::kStdout ? FdKind::kStdout : s == Stream::kStderr ? FdKind::kStderr : FdKind::kStatus;
}
Stream StreamOf(FdKind k) {
  return k == FdKind::kStdout ? Stream::kStdout : k == FdKind::kStderr ? Stream::kStderr : Stream::kStatus;
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
    Report(ReadyLine());
    spdlog::info("started; queues [{}], concurrency {}", Join(o_.pool->queues), o_.pool->concurrency);
    while (true) {
      RunTimers(MonotonicUs());
      if (draining_ && running_.empty() && completions_.empty()) break;
      FlushAndClaim();
      FlushReports();
      Wait(WorkPending() ? 0 : timers_.TimeoutMs(MonotonicUs(), 60'000));
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
    Result<std::unique_ptr<ChangeNotifier>> notifier = store_->WatchChanges();
    if (!notifier.ok()) return notifier.status();
    commits_.emplace(std::move(notifier).value());
    if (commits_->fd() >= 0) DROVER_RETURN_IF_ERROR(Watch(commits_->fd(), {FdKind::kCommits}));

    std::int64_t now = MonotonicUs();
    started_us_ = now;
    hb_interval_us_ = std::clamp<std::int64_t>(Us(o_.config->supervisor.hang_timeout) / 4, 50'000, 1'000'000);
    timers_.Set({kHeartbeat}, now);
    timers_.Set({kLease}, now + LeaseRenewalUs());
    timers_.Set({kPoll}, now + kPollIntervalUs);
    timers_.Set({kHygiene}, now + kHygieneIntervalUs);
    return Status::Ok();
  }

  std::int64_t LeaseRenewalUs() const { return Us(o_.config->supervisor.lease) / 3; }

  Status Watch(int fd, FdRef ref) {
    epoll_event ev{};
    ev.events = EPOLLIN;
    ev.data.fd = fd;
    if (epoll_ctl(epoll_.get(), EPOLL_CTL_ADD, fd, &ev) != 0) return Status::FromErrno("epoll_ctl");
    fds_[fd] = ref;
    return Status::Ok();
  }
  // For an fd about to be closed, which takes it out of the epoll set by itself (only this
  // process holds our pipe ends: they are close-on-exec).
  void Unwatch(int fd) { fds_.erase(fd); }

  // Reports go out together, once per turn of the loop (FlushReports).
  void Report(const std::string& line) {
    if (o_.supervisor_fd >= 0) reports_ += line;
  }
  void FlushReports() {
    if (reports_.empty()) return;
    // Non-blocking: a stuck supervisor must not stall the jobs; it notices silence by itself.
    (void)!write(o_.supervisor_fd, reports_.data(), reports_.size());
    reports_.clear();
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
        case FdKind::kSignal:
          OnSignal();
          break;
        case FdKind::kCommits:
          OnCommit(commits_->OnReadable(MonotonicUs()));
          break;
        case FdKind::kHandlers:
          OnHandlers();
          break;
        case FdKind::kStdout:
        case FdKind::kStderr:
        case FdKind::kStatus:
          OnJobOutput(ref);
          break;
      }
    }
  }

  int FreeSlots() const { return o_.pool->concurrency - static_cast<int>(running_.size()); }
  bool ClaimWanted() const { return claim_wanted_ && !draining_ && FreeSlots() > 0; }
  // Completions to write or jobs to claim: the loop does not sleep (unless the store is failing).
  bool WorkPending() const {
    return !store_failing_ && (!completions_.empty() || ClaimWanted() || write_pids_);
  }

  void FlushAndClaim() {
    if (!WorkPending()) return;
    int want = ClaimWanted() ? FreeSlots() : 0;
    std::vector<CompletionResult> results;
    Result<std::vector<ClaimedJob>> claimed =
        store_->CompleteAndClaim(worker_id_, {started_, completions_}, &results, o_.pool->queues, want);
    AfterOwnWrite();
    if (!claimed.ok()) {
      // Keep the completions: nothing is lost, they are written once the store answers.
      spdlog::error("{}; retrying in 1s", claimed.status().ToString());
      store_failing_ = true;
      timers_.Set({kStoreRetry}, MonotonicUs() + kStoreRetryUs);
      return;
    }
    bool retry_pending = false;
    for (const CompletionResult& r : results) {
      retry_pending |= !r.stale && r.state == JobState::kQueued;
      if (r.stale) {
        spdlog::warn("job {}: outcome not recorded, this worker no longer owns it (recovered or reaped)",
                     r.id);
      } else {
        spdlog::debug("job {} -> {}", r.id, JobStateName(r.state));
      }
    }
    jobs_done_ += static_cast<std::int64_t>(completions_.size());
    completions_.clear();
    started_.clear();
    write_pids_ = false;
    timers_.Clear({kWritePids});
    if (want > 0) {
      claim_wanted_ = static_cast<int>(claimed->size()) == want;
      for (ClaimedJob& j : *claimed) Start(std::move(j));
      if (handlers_) handlers_->Kick();
    }
    if ((want > 0 && !claim_wanted_) || retry_pending) ScheduleDue();
    CheckHygiene(false);
  }

  // Wakes the loop when the next delayed job becomes due, if that is before the next poll.
  void ScheduleDue() {
    timers_.Clear({kDue});
    Result<std::optional<std::int64_t>> next = store_->NextRunAt();
    if (!next.ok() || !next->has_value()) return;
    std::int64_t delta_ms = **next - NowMs();
    if (delta_ms <= 0) delta_ms = 1;  // due but not claimable (paused, other queue): poll decides
    if (delta_ms * 1000 < kPollIntervalUs) timers_.Set({kDue}, MonotonicUs() + delta_ms * 1000);
  }

  void RunTimers(std::int64_t now) {
    if (handlers_ && handlers_->HasQueued()) timers_.SetEarliest({kHandlerKick}, now + 1000);
    for (TimerSet::Key key : timers_.TakeDue(now)) {
      auto job = running_.find(key.subject);
      RunningJob* r = job == running_.end() ? nullptr : &job->second;
      switch (static_cast<TimerKind>(key.kind)) {
        case kHeartbeat: {
          std::vector<std::int64_t> ids;
          for (const auto& [id, _] : running_) {
            if (ids.size() == kMaxHeartbeatIds) break;
            ids.push_back(id);
          }
          Report(HeartbeatLine(ids));
          timers_.Set({kHeartbeat}, now + hb_interval_us_);
          break;
        }
        case kLease:
          if (!running_.empty()) {
            Result<int> n = store_->ExtendLeases(worker_id_);
            AfterOwnWrite();
            if (!n.ok()) spdlog::warn("{}", n.status().ToString());
          }
          timers_.Set({kLease}, now + LeaseRenewalUs());
          break;
        case kPoll:
          claim_wanted_ = true;
          CheckCancels();
          timers_.Set({kPoll}, now + kPollIntervalUs);
          break;
        case kHygiene:
          RemoveDrainedJobCgroups();
          CheckHygiene(true);
          timers_.Set({kHygiene}, now + kHygieneIntervalUs);
          break;
        case kDue:
          claim_wanted_ = true;
          break;
        case kRecheck:
          OnCommit(commits_->OnRecheck(now));
          break;
        case kStoreRetry:
          store_failing_ = false;
          break;
        case kWritePids:
          write_pids_ = true;
          break;
        case kHandlerKick:
          if (handlers_) handlers_->Kick();
          break;
        case kDrain:
          for (auto& [id, running] : running_) {
            running.interrupted = true;
            Stop(running, "shutdown timeout");
          }
          // Handlers that ignore cancellation cannot hold the shutdown up for long.
          timers_.Set({kHardStop}, now + kHardStopUs);
          break;
        case kHardStop:
          LeaveWithoutHandlers();
          break;
        case kJobTimeout:
          if (r && !r->timed_out) {
            r->timed_out = true;
            Stop(*r, "timeout");
          }
          break;
        case kJobKill:
          if (r && r->cmd) r->cmd->OnTimer(now);
          break;
        case kJobProgress:
          if (r) WriteProgress(*r);
          break;
      }
    }
  }

  // Handlers still running ignore their cancellation flag: record them as interrupted and leave
  // without joining their threads.
  [[noreturn]] void LeaveWithoutHandlers() {
    for (auto& [id, r] : running_) {
      completions_.push_back(
          {id, r.job.attempt, Completion::Kind::kInterrupted, "interrupted by shutdown", 0});
    }
    Status s = store_->Complete(worker_id_, completions_, nullptr);
    spdlog::warn("{} job(s) did not stop in time; exiting{}", running_.size(),
                 s.ok() ? "" : ": " + s.ToString());
    _exit(0);
  }

  void CheckHygiene(bool periodic) {
    if (draining_) return;
    std::string reason;
    const PoolConfig& p = *o_.pool;
    if (p.max_jobs > 0 && jobs_done_ >= p.max_jobs)
      reason = "ran " + std::to_string(jobs_done_) + " jobs (max_jobs)";
    if (periodic && p.max_age.count() > 0 && MonotonicUs() - started_us_ >= Us(p.max_age)) {
      reason = "older than max_age " + FormatDuration(p.max_age);
    }
    if (periodic && p.max_memory > 0) {
      std::ifstream statm("/proc/self/statm");
      std::uint64_t size = 0, rss = 0;
      statm >> size >> rss;
      rss *= static_cast<std::uint64_t>(sysconf(_SC_PAGESIZE));
      if (rss > p.max_memory)
        reason = "RSS " + FormatSize(rss) + " above max_memory " + FormatSize(p.max_memory);
    }
    if (reason.empty()) return;
    spdlog::info("recycling: {}", reason);
    Report(RecycleLine(reason));
    BeginDrain();
  }

  void BeginDrain() {
    if (draining_) return;
    draining_ = true;
    timers_.Set({kDrain}, MonotonicUs() + Us(o_.config->supervisor.shutdown_timeout));
  }

  // --- events ---

  void OnSignal() {
    signalfd_siginfo si;
    while (read(sig_fd_.get(), &si, sizeof si) == sizeof si) {
      if (si.ssi_signo == SIGCHLD) {
        Reap();
      } else if (si.ssi_signo == SIGTERM || si.ssi_signo == SIGINT) {
        if (draining_ && timers_.Armed({kDrain})) {
          timers_.Set({kDrain}, MonotonicUs());  // a second request: stop the jobs now
        } else if (!draining_) {
          spdlog::info("stopping: {} running job(s) get up to {}", running_.size(),
                       FormatDuration(o_.config->supervisor.shutdown_timeout));
          BeginDrain();
        }
      }
    }
  }

  // After every write of ours: its wake-up must not hide another process's commit.
  void AfterOwnWrite() { OnCommit(commits_->AfterOwnWrite(MonotonicUs())); }

  // `changed`: another process committed, so there may be jobs to claim or cancel requests.
  void OnCommit(bool changed) {
    if (changed) {
      claim_wanted_ = true;
      CheckCancels();
    }
    if (std::int64_t at = commits_->recheck_at_us(); at > 0) {
      timers_.Set({kRecheck}, at);
    } else {
      timers_.Clear({kRecheck});
    }
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
        timers_.Set({kJobKill, r.job.id}, r.cmd->kill_at_us());
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
    if (r.type && r.type->timeout.count() > 0)
      timers_.Set({kJobTimeout, id}, MonotonicUs() + Us(r.type->timeout));
    running_.emplace(id, std::move(r));
  }

  // The job is done with: its outcome goes out with the next claim.
  void Finish(std::int64_t id, Completion done) {
    completions_.push_back(std::move(done));
    running_.erase(id);
    for (int kind : {kJobTimeout, kJobKill, kJobProgress}) timers_.Clear({kind, id});
  }

  void Fail(const RunningJob& r, Completion::Kind kind, const std::string& error) {
    completions_.push_back({r.job.id, r.job.attempt, kind, error, RetryDelayMs(r)});
  }

  std::int64_t RetryDelayMs(const RunningJob& r) {
    JobTypeConfig defaults;
    const JobTypeConfig& t = r.type ? *r.type : defaults;
    return BackoffDelay({t.retry_delay, t.retry_delay_max, kRetryJitter}, r.job.attempt, rng_).count();
  }

  Status StartCommand(RunningJob& r) {
    Result<std::unique_ptr<CommandRun>> run =
        LaunchCommand(*r.type, r.job, o_.job_cgroup_root, &limits_warned_);
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
    Report(GroupStartedLine(cmd->pid()));
    started_.push_back({r.job.id, r.job.attempt, cmd->pid()});
    if (!timers_.Armed({kWritePids})) timers_.Set({kWritePids}, MonotonicUs() + kPidWriteDelayUs);
    spdlog::debug("job {} ({}) attempt {}: started pid {}", r.job.id, r.job.type, r.job.attempt, cmd->pid());
    r.cmd = std::move(cmd);
    return Status::Ok();
  }

  // --- command job output and exit ---

  void OnJobOutput(FdRef ref) {
    auto it = running_.find(ref.job);
    if (it == running_.end()) return;
    RunningJob& r = it->second;
    Stream s = StreamOf(ref.kind);
    std::vector<std::string> lines;
    if (!r.cmd->Read(s, &lines)) {
      Unwatch(r.cmd->fd(s));
      r.cmd->Close(s);
    }
    HandleStatusLines(r, lines);
  }

  void HandleStatusLines(RunningJob& r, const std::vector<std::string>& lines) {
    r.progress.AddStatusLines(r.job.id, lines);
    ArmProgress(r);
  }

  void ArmProgress(const RunningJob& r) {
    if (std::int64_t due = r.progress.due_us(); due > 0) timers_.SetEarliest({kJobProgress, r.job.id}, due);
  }

  void WriteProgress(RunningJob& r) {
    timers_.Clear({kJobProgress, r.job.id});
    std::optional<ProgressUpdate> u = r.progress.Take(MonotonicUs());
    if (!u) return;
    Status s =
        store_->UpdateProgress(r.job.id, worker_id_, r.job.attempt, u->progress, u->message, u->checkpoint);
    AfterOwnWrite();
    if (!s.ok()) spdlog::warn("{}", s.ToString());
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
    Report(GroupEndedLine(c.pid()));
    for (Stream s : kStreams) {
      Unwatch(c.fd(s));
      c.Close(s);
    }
    WriteProgress(r);
    ExitFacts facts{wait_status,   r.timed_out,     r.cancelled,
                    r.interrupted, r.type->timeout, &r.type->permanent_exit_codes};
    ExitOutcome o = ClassifyExit(facts, c.out(), c.out_truncated(), r.type->max_output, c.err_tail());
    Completion done{id, r.job.attempt, o.kind, std::move(o.output), 0};
    if (o.kind == Completion::Kind::kFailed || o.kind == Completion::Kind::kFailedPermanent) {
      done.retry_delay_ms = RetryDelayMs(r);
    }
    spdlog::debug("job {} attempt {}: {}", id, r.job.attempt,
                  done.kind == Completion::Kind::kSucceeded ? "succeeded" : done.output.substr(0, 200));
    Finish(id, std::move(done));
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
      it->second.progress.Merge(std::move(u));
      ArmProgress(it->second);
    }
    for (HandlerOutcome& o : outcomes) {
      auto it = running_.find(o.id);
      if (it == running_.end()) continue;
      RunningJob& r = it->second;
      if (r.progress.has_checkpoint()) WriteProgress(r);
      Completion done{o.id, o.attempt, Completion::Kind::kSucceeded, std::move(o.result.output), 0};
      if (o.result.kind != HandlerResult::Kind::kSucceeded) {
        done.kind = o.result.kind == HandlerResult::Kind::kFail ? Completion::Kind::kFailedPermanent
                                                                : Completion::Kind::kFailed;
        if (r.interrupted) done.kind = Completion::Kind::kInterrupted;
        if (r.timed_out)
          done.output = "timed out after " + FormatDuration(r.type->timeout) + ": " + done.output;
        done.retry_delay_ms = RetryDelayMs(r);
      }
      Finish(o.id, std::move(done));
    }
  }

  const WorkerOptions& o_;
  JobStore* const store_;
  const std::string worker_id_;
  std::mt19937_64 rng_;
  const char* const stop_after_spawn_;  // a test's fault point: see worker.h
  UniqueFd epoll_, sig_fd_;
  std::optional<CommitWatch> commits_;
  TimerSet timers_;
  std::unordered_map<int, FdRef> fds_;
  std::unordered_map<pid_t, std::int64_t> pids_;
  std::unordered_map<std::int64_t, RunningJob> running_;
  std::unique_ptr<HandlerPool> handlers_;  // declared after running_: joined first
  std::vector<Completion> completions_;
  std::string reports_;                  // report lines not written yet
  std::vector<StartedProcess> started_;  // pids not written yet (kWritePids)
  std::set<std::string> limits_warned_;  // job types whose cgroup limits could not be set
  bool claim_wanted_ = true;
  bool draining_ = false;
  bool store_failing_ = false;  // until kStoreRetry
  bool write_pids_ = false;     // kWritePids came: write started_ even without a claim
  std::int64_t jobs_done_ = 0;
  std::int64_t started_us_ = 0, hb_interval_us_ = 0;
};

}  // namespace

int RunWorker(const WorkerOptions& options) { return Worker(options).Run(); }

}  // namespace drover
