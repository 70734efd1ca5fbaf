#include "jobs/worker.h"

#include <fmt/format.h>
#include <signal.h>
#include <spdlog/spdlog.h>
#include <sys/epoll.h>
#include <sys/signalfd.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
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
#include "jobs/job_cgroup.h"
#include "jobs/job_fence.h"
#include "jobs/progress_buffer.h"
#include "jobs/recycling.h"
#include "jobs/report_line.h"
#include "jobs/store/job_store.h"
#include "jobs/store/open_job_store.h"
#include "jobs/worker_internal.h"

namespace drover::worker_internal {

int Worker::Run() {
  Status s = Init();
  if (!s.ok()) {
    spdlog::error("worker cannot start: {}", s.ToString());
    return 1;
  }
  Report(ReadyLine());
  spdlog::info("started; queues [{}], concurrency {}", fmt::join(o_.pool->queues, ", "),
               o_.pool->concurrency);
  while (true) {
    RunTimers(MonotonicUs());
    if (draining_ && running_.empty() && completions_.empty()) break;
    StartAhead();
    FlushAndClaim();
    UpdateFence();
    FlushRunners();
    FlushReports();
    Wait(WorkPending() ? 0 : timers_.TimeoutMs(MonotonicUs(), 60'000));
  }
  spdlog::info("stopped after {} jobs", jobs_done_);
  return 0;
}

Status Worker::Init() {
  sigset_t set;
  sigemptyset(&set);
  for (int sig : {SIGTERM, SIGINT, SIGCHLD, SIGHUP}) sigaddset(&set, sig);
  if (sigprocmask(SIG_BLOCK, &set, nullptr) != 0) return Status::FromErrno("sigprocmask");
  signal(SIGPIPE, SIG_IGN);
  sig_fd_.Reset(signalfd(-1, &set, SFD_CLOEXEC | SFD_NONBLOCK));
  if (!sig_fd_) return Status::FromErrno("signalfd");
  if (o_.supervisor_pid > 0) {
    // Every job at once and one process per runner, with room to spare.
    fence_capacity_ = static_cast<size_t>(o_.pool->concurrency) + o_.config->runners.size() + 16;
    std::string own_cgroup =
        o_.job_cgroup_root.empty() ? "" : o_.job_cgroup_root + ProcessCgroupName(getpid());
    DROVER_RETURN_IF_ERROR(ArmJobFence(o_.supervisor_pid, own_cgroup, fence_capacity_));
    // A job may be taken once its lease has run out or, on PostgreSQL, its node has been silent
    // for node_timeout; a quarter of the shorter is the margin (clock rates, a late timer).
    const StoreConfig store = StoreConfigFor(o_.config->supervisor);
    fence_budget_us_ = Us(TakeoverWindow(store)) * 3 / 4;
    claim_beat_slack_us_ = Us(ClaimBeatSlack(store));
    DROVER_RETURN_IF_ERROR(PrepareSelfFence(fmt::format(
        "drover {} (pid {}): no renewal of its jobs' leases confirmed for {} ms: killing its running "
        "jobs before another node or the lease reaper may take them (self-fence)\n",
        o_.name, getpid(), fence_budget_us_ / 1000)));
  }
  epoll_.Reset(epoll_create1(EPOLL_CLOEXEC));
  if (!epoll_) return Status::FromErrno("epoll_create1");
  DROVER_RETURN_IF_ERROR(Watch(sig_fd_.get(), {FdKind::kSignal}));
  Result<std::unique_ptr<ChangeNotifier>> notifier = store_->WatchChanges();
  if (!notifier.ok()) return notifier.status();
  commits_.emplace(std::move(notifier).value());
  if (commits_->fd() >= 0) DROVER_RETURN_IF_ERROR(Watch(commits_->fd(), {FdKind::kCommits}));

  may_claim_ahead_ = (!o_.handlers || o_.handlers->all().empty()) && RunningLimitsFor(*o_.config).empty();
  std::int64_t now = MonotonicUs();
  started_us_ = now;
  hb_interval_us_ = std::clamp<std::int64_t>(Us(o_.config->supervisor.hang_timeout) / 4, 50'000, 1'000'000);
  timers_.Set({kHeartbeat}, now);
  timers_.Set({kLease}, now + LeaseRenewalUs());
  timers_.Set({kPoll}, now + poll_us_);
  timers_.Set({kHygiene}, now + kHygieneIntervalUs);
  InitRunners();
  return Status::Ok();
}

Status Worker::Watch(int fd, FdRef ref) {
  epoll_event ev{};
  ev.events = EPOLLIN;
  ev.data.fd = fd;
  if (epoll_ctl(epoll_.get(), EPOLL_CTL_ADD, fd, &ev) != 0 &&
      (errno != EEXIST || epoll_ctl(epoll_.get(), EPOLL_CTL_MOD, fd, &ev) != 0)) {
    return Status::FromErrno("epoll_ctl");
  }
  fds_[fd] = ref;
  return Status::Ok();
}

// Reports go out together, once per turn of the loop (FlushReports).
void Worker::Report(const std::string& line) {
  if (o_.supervisor_fd >= 0) reports_ += line;
}

void Worker::GroupStarted(pid_t pgid, const std::string& cgroup) {
  if (o_.supervisor_pid > 0 && !FenceJob(pgid, cgroup))
    spdlog::warn("job process group {} is not fenced: {} are already", pgid, fence_capacity_);
  Report(GroupStartedLine(pgid));
}

void Worker::GroupEnded(pid_t pgid) {
  UnfenceJob(pgid);
  Report(GroupEndedLine(pgid));
}

void Worker::Renewed(std::int64_t sent_us) {
  if (fence_budget_us_ == 0 || running_.empty()) return;
  fence_base_us_ = sent_us;
  SetSelfFence(sent_us + fence_budget_us_);
}

void Worker::UpdateFence() {
  if (fence_budget_us_ == 0) return;
  if (running_.empty()) {
    if (fence_base_us_ != 0) ClearSelfFence();
    fence_base_us_ = 0;
  } else if (fence_base_us_ == 0) {
    // The claim that started them set their leases and beat for the node, up to a slack late.
    Renewed(last_claim_us_ - claim_beat_slack_us_);
  }
}

void Worker::ReportEvent(std::string_view event, const ClaimedJob& job, nlohmann::json fields) {
  fields["id"] = job.id;
  fields["queue"] = job.queue;
  fields["type"] = job.type;
  fields["attempt"] = job.attempt;
  events_ += EventLine(EventJson("job", event, std::move(fields)));
}

void Worker::FlushReports() {
  if (o_.supervisor_fd < 0) return;
  if (!tally_.empty()) {
    reports_ += tally_.Lines();
    tally_.Clear();
  }
  // Non-blocking: a stuck supervisor must not stall the jobs; it notices silence by itself.
  // Partly written lines are finished first: the supervisor reads one stream of bytes.
  auto write_some = [&](std::string& buf) {
    while (!buf.empty()) {
      ssize_t n = write(o_.supervisor_fd, buf.data(), buf.size());
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) return false;
      buf.erase(0, static_cast<size_t>(n));
    }
    return true;
  };
  if (!write_some(reports_)) {
    // The supervisor has not read for a long while: what piled up goes (counts included).
    if (reports_.size() > kMaxPendingReports) reports_.clear();
    if (events_.size() > kMaxPendingReports) {
      events_lost_ += std::count(events_.begin(), events_.end(), '\n');
      events_.clear();
    }
    return;
  }
  if (events_lost_ > 0 && EventsWanted()) {
    events_.insert(0,
                   EventLine(EventJson("stream", "lost", {{"count", events_lost_}, {"process", o_.name}})));
    events_lost_ = 0;
  }
  if (!write_some(events_)) {
    // Never a cut line: the rest of the one partly written goes; the others are lost.
    size_t nl = events_.find('\n');
    events_lost_ += std::count(events_.begin() + static_cast<std::ptrdiff_t>(nl) + 1, events_.end(), '\n');
    events_.erase(nl + 1);
  }
}

void Worker::TallyEnded(const std::vector<CompletionResult>& results) {
  const bool events = EventsWanted();
  // Both follow the order of completions_: `results` has one per completion, ended_ some.
  size_t next = 0;
  for (const CompletionResult& r : results) {
    if (next == ended_.size() || ended_[next].id != r.id) continue;
    const EndedJob e = std::move(ended_[next++]);
    if (r.stale || e.kind == Completion::Kind::kReleased) continue;
    JobOutcome o;
    switch (r.state) {
      case JobState::kSucceeded:
        o = JobOutcome::kSucceeded;
        break;
      case JobState::kFailed:
        o = JobOutcome::kFailed;
        break;
      case JobState::kCancelled:
        o = JobOutcome::kCancelled;
        break;
      case JobState::kExpired:
        o = JobOutcome::kExpired;
        break;
      case JobState::kQueued:
        o = e.kind == Completion::Kind::kInterrupted ? JobOutcome::kInterrupted : JobOutcome::kRetried;
        break;
      default:
        continue;
    }
    tally_.Finished(e.queue, e.type, o, e.seconds);
    if (events) {
      events_ +=
          EventLine(EventJson("job", kJobOutcomeNames[static_cast<int>(o)],
                              {{"id", r.id}, {"queue", e.queue}, {"type", e.type}, {"seconds", e.seconds}}));
    }
  }
}

void Worker::Wait(int timeout_ms) {
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
      case FdKind::kJobOutput:
        OnJobOutput(ref);
        break;
      case FdKind::kRunnerIn:
      case FdKind::kRunnerOut:
      case FdKind::kRunnerErr:
        OnRunnerFd(ref);
        break;
    }
  }
}

// Completions to write or jobs to claim: the loop does not sleep (unless the store is failing).
// While jobs claimed ahead wait for slots, completions wait for the claim that follows them.
bool Worker::WorkPending() const {
  return !store_failing_ && !holding_ &&
         ((!completions_.empty() && ahead_.empty()) || ClaimWanted() || write_pids_);
}

// Claim-ahead: a job that takes a millisecond would otherwise cost a transaction of its own
// (its outcome, then the claim of the next). While the queue is deep (the last claim got all it
// asked for) and jobs are short, a claim also takes jobs to start as slots free up; their
// outcomes then go out together, with the claim that follows. Not with in-process handlers:
// a held job that crashes its worker before its start is written would get its attempt back
// and could crash the next worker the same way (and handler batches are large already). Not
// with running limits, which held jobs would use up.
int Worker::AheadWanted() const {
  if (!may_claim_ahead_ || ahead_paused_ || job_us_avg_ >= kShortJobUs) return 0;
  std::int64_t n = o_.pool->concurrency * kAheadWindowUs / std::max<std::int64_t>(job_us_avg_, 1);
  return static_cast<int>(std::clamp<std::int64_t>(n, 1, kMaxAhead));
}

void Worker::StartAhead() {
  while (!ahead_.empty() && FreeSlots() > 0 && !draining_) {
    ClaimedJob j = std::move(ahead_.front());
    ahead_.pop_front();
    Start(std::move(j), /*held=*/true);
  }
  if (ahead_.empty()) timers_.Clear({kReleaseAhead});
}

void Worker::Release(const ClaimedJob& j) {
  completions_.push_back({j.id, j.attempt, Completion::Kind::kReleased, "", 0});
}

void Worker::ReleaseAhead() {
  for (const ClaimedJob& j : ahead_) Release(j);
  ahead_.clear();
  timers_.Clear({kReleaseAhead});
}

// Gives back the jobs the store says this worker owns that it never heard of: claimed by a
// commit whose answer the lost connection took. They never started: back to the queue, uncharged.
void Worker::ReleaseUnknownClaims() {
  Result<std::vector<std::pair<std::int64_t, int>>> owned = store_->ClaimsOf(worker_id_);
  if (!owned.ok()) return;  // next time
  claims_unknown_ = false;
  for (auto [id, attempt] : *owned) {
    bool known = running_.count(id) ||
                 std::any_of(ahead_.begin(), ahead_.end(), [&](const ClaimedJob& j) { return j.id == id; }) ||
                 std::any_of(completions_.begin(), completions_.end(),
                             [&](const Completion& c) { return c.id == id; });
    if (known) continue;
    spdlog::warn("job {}: claimed by a commit whose answer was lost; giving it back", id);
    completions_.push_back({id, attempt, Completion::Kind::kReleased, "", 0});
  }
}

void Worker::FlushAndClaim() {
  holding_ = false;
  if (!WorkPending()) return;
  holding_ = HoldForHandlers(MonotonicUs());
  if (holding_) return;
  const bool claim = ClaimWanted();
  const int slots = claim ? FreeSlots() : 0, held = claim ? AheadWanted() : 0, want = slots + held;
  // A process id is shown while its job runs: one that ended meanwhile needs no write (the
  // start of a held job does).
  std::erase_if(started_, [&](const StartedProcess& p) { return !p.started_at_ms && !running_.count(p.id); });
  if (claims_unknown_) ReleaseUnknownClaims();
  std::vector<CompletionResult> results;
  const std::int64_t sent_us = MonotonicUs();
  Result<std::vector<ClaimedJob>> claimed =
      store_->CompleteAndClaim(worker_id_, {started_, completions_}, &results, o_.pool->queues, slots, held);
  AfterOwnWrite();
  if (!claimed.ok()) {
    // Keep the completions: nothing is lost, they are written once the store answers.
    spdlog::error("{}; retrying in 1s", claimed.status().ToString());
    // A connection lost around COMMIT leaves open whether the claim went in.
    claims_unknown_ |= want > 0 && claimed.status().code() == Status::Code::kIoError;
    store_failing_ = true;
    timers_.Set({kStoreRetry}, MonotonicUs() + kStoreRetryUs);
    return;
  }
  if (want > 0) {
    last_claim_us_ = sent_us;
    commits_->AfterClaim(MonotonicUs(), !claimed->empty());
  }
  bool retry_pending = false;
  for (const CompletionResult& r : results) {
    retry_pending |= !r.stale && r.state == JobState::kQueued;
    if (r.stale) {
      spdlog::warn("job {}: outcome not recorded, this worker no longer owns it (recovered or reaped)", r.id);
    } else {
      spdlog::debug("job {} -> {}", r.id, JobStateName(r.state));
    }
  }
  TallyEnded(results);
  ended_.clear();
  jobs_done_ += std::count_if(completions_.begin(), completions_.end(),
                              [](const Completion& c) { return c.kind != Completion::Kind::kReleased; });
  completions_.clear();
  started_.clear();
  write_pids_ = false;
  timers_.Clear({kWritePids});
  if (want > 0) {
    claim_wanted_ = static_cast<int>(claimed->size()) == want;
    // The store holds the ones after the first `slots`: they start from ahead_, recorded.
    for (size_t i = 0; i < claimed->size(); ++i) {
      if (static_cast<int>(i) < slots) {
        Start(std::move((*claimed)[i]));
      } else {
        ahead_.push_back(std::move((*claimed)[i]));
      }
    }
    if (!ahead_.empty()) timers_.Set({kReleaseAhead}, MonotonicUs() + kAheadMaxWaitUs);
    if (handlers_) handlers_->Kick();
  }
  if ((want > 0 && !claim_wanted_) || retry_pending) ScheduleDue();
  CheckHygiene(false);
}

// Fast handlers finish a claimed batch in well under a millisecond. While some of its tasks
// still wait for a thread, a claim would only queue more jobs behind them, so the outcomes so
// far wait for the rest: the whole batch then goes out with the next claim, in one transaction
// instead of several small ones. Never for longer than kHoldForHandlersUs.
bool Worker::HoldForHandlers(std::int64_t now) {
  if (!handlers_ || write_pids_ || draining_ || !handlers_->HasQueued()) {
    hold_since_us_ = 0;
    return false;
  }
  if (hold_since_us_ == 0) hold_since_us_ = now;
  std::int64_t until = hold_since_us_ + kHoldForHandlersUs;
  if (now >= until) return false;
  timers_.SetEarliest({kHandlerKick}, until);
  return true;
}

// Wakes the loop when the next delayed job becomes due, if that is before the next poll.
void Worker::ScheduleDue() {
  timers_.Clear({kDue});
  Result<std::optional<std::int64_t>> next = store_->NextRunAt();
  if (!next.ok() || !next->has_value()) return;
  std::int64_t delta_ms = **next - NowMs();
  if (delta_ms <= 0) delta_ms = 1;  // due but not claimable (paused, other queue): poll decides
  if (delta_ms * 1000 < poll_us_) timers_.Set({kDue}, MonotonicUs() + delta_ms * 1000);
}

void Worker::RunTimers(std::int64_t now) {
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
          const std::int64_t sent_us = MonotonicUs();
          Result<int> n = store_->ExtendLeases(worker_id_);
          AfterOwnWrite();
          if (n.ok()) {
            Renewed(sent_us);
          } else {
            spdlog::warn("{}", n.status().ToString());
          }
        }
        timers_.Set({kLease}, now + LeaseRenewalUs());
        break;
      case kPoll:
        claim_wanted_ = true;
        CheckCancels();
        timers_.Set({kPoll}, now + poll_us_);
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
        if (handlers_) {
          handlers_->Kick();
          OnHandlers();  // outcomes of tasks that finished while others were queued
        }
        break;
      case kReleaseAhead:
        spdlog::debug("{} job(s) claimed ahead waited {} ms for a slot: given back", ahead_.size(),
                      kAheadMaxWaitUs / 1000);
        ReleaseAhead();
        ahead_paused_ = true;
        break;
      case kDrain: {
        std::vector<std::int64_t> ids;  // a stop may end a job (one waiting for its runner) at once
        for (const auto& [id, running] : running_) ids.push_back(id);
        for (std::int64_t id : ids) {
          if (auto it = running_.find(id); it != running_.end()) {
            it->second.interrupted = true;
            Stop(it->second, "shutdown timeout");
          }
        }
        // Handlers that ignore cancellation cannot hold the shutdown up for long.
        timers_.Set({kHardStop}, now + kHardStopUs);
        break;
      }
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
        if (r && r->runner >= 0) {
          KillRunner(r->runner,
                     "job " + std::to_string(r->job.id) + " did not stop within kill_after " +
                         FormatDuration(r->type->kill_after) + " of its cancel",
                     /*others_innocent=*/true);
        }
        break;
      case kRunnerHello:
        KillRunner(
            static_cast<int>(key.subject),
            "no hello within start_timeout " + FormatDuration(runners_[key.subject].config->start_timeout),
            false);
        break;
      case kRunnerRestart:
        EnsureRunner(static_cast<int>(key.subject));
        break;
      case kRunnerExit:
        KillRunner(static_cast<int>(key.subject), "did not exit after its input or output ended", false);
        break;
      case kJobProgress:
        if (r) WriteProgress(*r);
        break;
    }
  }
}

// Handlers still running ignore their cancellation flag: record them as interrupted and leave
// without joining their threads.
void Worker::LeaveWithoutHandlers() {
  ReleaseAhead();
  for (auto& [id, r] : running_) {
    completions_.push_back({id, r.job.attempt, Completion::Kind::kInterrupted, "interrupted by shutdown", 0});
  }
  Status s = store_->Complete(worker_id_, completions_, nullptr);
  spdlog::warn("{} job(s) did not stop in time; exiting{}", running_.size(),
               s.ok() ? "" : ": " + s.ToString());
  _exit(0);
}

// max_jobs after every batch; max_age and max_memory when `periodic`.
void Worker::CheckHygiene(bool periodic) {
  if (draining_) return;
  if (periodic) {
    for (int i = 0; i < static_cast<int>(runners_.size()); ++i) CheckRunnerHygiene(i, true);
  }
  const PoolConfig& p = *o_.pool;
  std::string reason = periodic ? RecycleReason(p, jobs_done_, MonotonicUs() - started_us_,
                                                p.max_memory > 0 ? ResidentBytes() : 0)
                                : RecycleReason(p, jobs_done_, 0, 0);
  if (reason.empty()) return;
  spdlog::info("recycling: {}", reason);
  Report(RecycleLine(reason));
  BeginDrain(true);
}

void Worker::BeginDrain(bool deadline) {
  if (deadline && !drain_deadline_) {
    drain_deadline_ = true;
    timers_.Set({kDrain}, MonotonicUs() + Us(o_.config->supervisor.shutdown_timeout));
  }
  if (draining_) return;
  draining_ = true;
  ReleaseAhead();
  // Jobs waiting for a runner to start will not get one now: back to the queue.
  std::vector<std::int64_t> waiting;
  for (const RunnerSlot& slot : runners_)
    waiting.insert(waiting.end(), slot.waiting.begin(), slot.waiting.end());
  for (std::int64_t id : waiting) {
    if (auto it = running_.find(id); it != running_.end()) {
      it->second.interrupted = true;
      Stop(it->second, "shutdown");
    }
  }
}

void Worker::OnSignal() {
  signalfd_siginfo si;
  while (read(sig_fd_.get(), &si, sizeof si) == sizeof si) {
    if (si.ssi_signo == SIGCHLD) {
      Reap();
    } else if (si.ssi_signo == SIGTERM || si.ssi_signo == SIGINT) {
      if (draining_ && timers_.Armed({kDrain})) {
        timers_.Set({kDrain}, MonotonicUs());  // a second request: stop the jobs now
      } else if (!drain_deadline_) {           // or, being replaced, from now on with a deadline
        spdlog::info("stopping: {} running job(s) get up to {}", running_.size(),
                     FormatDuration(o_.config->supervisor.shutdown_timeout));
        BeginDrain(true);
      }
    } else if (si.ssi_signo == SIGHUP && !draining_) {
      spdlog::info(
          "replaced (the configuration changed): claiming nothing more; {} running job(s) finish first",
          running_.size());
      BeginDrain(false);
    }
  }
}

// `changed`: another process committed, so there may be jobs to claim or cancel requests.
void Worker::OnCommit(bool changed) {
  if (commits_->FdReplaced() && commits_->fd() >= 0) {
    // The store reconnected: its old socket closed (and left the epoll set by itself).
    std::erase_if(fds_, [](const auto& f) { return f.second.kind == FdKind::kCommits; });
    Status s = Watch(commits_->fd(), {FdKind::kCommits});
    if (!s.ok()) spdlog::warn("{}; idle workers poll for work until they restart", s.ToString());
    changed = true;  // what was sent while it was away is lost: look
  }
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

void Worker::CheckCancels() {
  if (running_.empty() && ahead_.empty()) return;
  Result<std::vector<std::int64_t>> ids = store_->CancelRequested(worker_id_);
  if (!ids.ok()) return;
  for (std::int64_t id : *ids) {
    auto held = std::find_if(ahead_.begin(), ahead_.end(), [&](const ClaimedJob& j) { return j.id == id; });
    if (held != ahead_.end()) {  // never started: released, it becomes cancelled
      spdlog::info("job {}: cancel requested before it started", id);
      Release(*held);
      ahead_.erase(held);
      continue;
    }
    auto it = running_.find(id);
    if (it == running_.end() || it->second.cancelled) continue;
    it->second.cancelled = true;
    spdlog::info("job {}: cancel requested", id);
    Stop(it->second, "cancel");
  }
}

// Asks a job to stop: SIGTERM to its group then SIGKILL after kill_after, or the
// cancellation flag for a handler.
void Worker::Stop(RunningJob& r, const char* why) {
  if (r.cmd) {
    Duration grace = r.type ? r.type->kill_after : Duration(5000);
    if (r.cmd->Stop(MonotonicUs(), Us(grace))) {
      spdlog::info("job {}: {}: SIGTERM to process group {}", r.job.id, why, r.cmd->pid());
      timers_.Set({kJobKill, r.job.id}, r.cmd->kill_at_us());
    }
  } else if (r.cancel) {
    r.cancel->store(true);
  } else if (r.runner >= 0) {
    StopRunnerJob(r, why);
  }
}

}  // namespace drover::worker_internal

namespace drover {

int RunWorker(const WorkerOptions& options) { return worker_internal::Worker(options).Run(); }

}  // namespace drover
