// Worker (worker_internal.h): starting jobs, their output and exits, and their outcomes.

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
#include "jobs/progress_buffer.h"
#include "jobs/recycling.h"
#include "jobs/report_line.h"
#include "jobs/store/job_store.h"
#include "jobs/worker_internal.h"

namespace drover::worker_internal {

void Worker::Start(ClaimedJob job, bool held) {
  std::int64_t id = job.id;
  RunningJob r;
  r.started_us = MonotonicUs();
  r.held = held;
  r.type = o_.config->FindJob(job.type);
  r.job = std::move(job);
  const std::int64_t now_ms = NowMs();
  tally_.Started(r.job.queue, r.job.type,
                 static_cast<double>(now_ms - std::max(r.job.run_at_ms, r.job.enqueued_at_ms)) / 1000);
  if (EventsWanted()) ReportEvent("started", r.job, {{"pid", getpid()}});
  const Handler* handler = o_.handlers ? o_.handlers->Find(r.job.type) : nullptr;
  if (r.type && r.type->is_runner()) {
    // In running_ first: the runner may end it at once (it cannot start, or does not serve the type).
    if (r.type->timeout.count() > 0) timers_.Set({kJobTimeout, id}, MonotonicUs() + Us(r.type->timeout));
    StartRunnerJob(running_.emplace(id, std::move(r)).first->second);
    return;
  }
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
void Worker::Finish(std::int64_t id, Completion done) {
  if (auto it = running_.find(id); it != running_.end()) {
    const RunningJob& r = it->second;
    const std::int64_t ran_us = MonotonicUs() - r.started_us;
    ended_.push_back({id, r.job.queue, r.job.type, done.kind, static_cast<double>(ran_us) / 1e6});
    job_us_avg_ += (ran_us - job_us_avg_) / 8;
    ahead_paused_ = false;
    running_.erase(it);
  }
  completions_.push_back(std::move(done));
  for (int kind : {kJobTimeout, kJobKill, kJobProgress}) timers_.Clear({kind, id});
}

void Worker::Fail(const RunningJob& r, Completion::Kind kind, const std::string& error) {
  ended_.push_back({r.job.id, r.job.queue, r.job.type, kind, 0});
  completions_.push_back({r.job.id, r.job.attempt, kind, error, RetryDelayMs(r)});
}

std::int64_t Worker::RetryDelayMs(const RunningJob& r) {
  JobTypeConfig defaults;
  const JobTypeConfig& t = r.type ? *r.type : defaults;
  return BackoffDelay({t.retry_delay, t.retry_delay_max, kRetryJitter}, r.job.attempt, rng_).count();
}

Status Worker::StartCommand(RunningJob& r) {
  Result<std::unique_ptr<CommandRun>> run =
      LaunchCommand(*r.type, r.job, o_.job_cgroup_root, &limits_warned_);
  if (!run.ok()) return run.status();
  std::unique_ptr<CommandRun> cmd = std::move(run).value();  // from here on its group dies with it
  for (Stream s : kStreams) {
    Status w = Watch(cmd->fd(s), {FdKind::kJobOutput, r.job.id, s});
    if (!w.ok()) {
      for (Stream u : kStreams) Unwatch(cmd->fd(u));
      return w;
    }
  }
  pids_[cmd->pid()] = r.job.id;
  if (stop_after_spawn_ && unlink(stop_after_spawn_) == 0) raise(SIGSTOP);
  GroupStarted(cmd->pid(), cmd->cgroup());
  started_.push_back({r.job.id, r.job.attempt, cmd->pid(), r.held ? NowMs() : 0});
  if (!timers_.Armed({kWritePids})) timers_.Set({kWritePids}, MonotonicUs() + kPidWriteDelayUs);
  spdlog::debug("job {} ({}) attempt {}: started pid {}", r.job.id, r.job.type, r.job.attempt, cmd->pid());
  r.cmd = std::move(cmd);
  return Status::Ok();
}

void Worker::OnJobOutput(FdRef ref) {
  auto it = running_.find(ref.job);
  if (it == running_.end()) return;
  RunningJob& r = it->second;
  Stream s = ref.stream;
  std::vector<std::string> lines;
  if (!r.cmd->Read(s, &lines)) {
    Unwatch(r.cmd->fd(s));
    r.cmd->Close(s);
  }
  HandleStatusLines(r, lines);
}

void Worker::HandleStatusLines(RunningJob& r, const std::vector<std::string>& lines) {
  r.progress.AddStatusLines(r.job.id, lines);
  ArmProgress(r);
}

void Worker::ArmProgress(const RunningJob& r) {
  if (std::int64_t due = r.progress.due_us(); due > 0) timers_.SetEarliest({kJobProgress, r.job.id}, due);
}

void Worker::WriteProgress(RunningJob& r) {
  timers_.Clear({kJobProgress, r.job.id});
  std::optional<ProgressUpdate> u = r.progress.Take(MonotonicUs());
  if (!u) return;
  Status s =
      store_->UpdateProgress(r.job.id, worker_id_, r.job.attempt, u->progress, u->message, u->checkpoint);
  AfterOwnWrite();
  if (!s.ok()) {
    spdlog::warn("{}", s.ToString());
  } else if (EventsWanted()) {
    nlohmann::json fields = nlohmann::json::object();
    if (u->progress) fields["progress"] = *u->progress;
    if (u->message) fields["message"] = *u->message;
    if (u->checkpoint) fields["checkpoint"] = true;
    ReportEvent("progress", r.job, std::move(fields));
  }
}

void Worker::Reap() {
  int st;
  pid_t pid;
  while ((pid = waitpid(-1, &st, WNOHANG)) > 0) {
    if (auto rp = runner_pids_.find(pid); rp != runner_pids_.end()) {
      RunnerExited(rp->second, st);
      continue;
    }
    auto p = pids_.find(pid);
    if (p == pids_.end()) continue;
    std::int64_t id = p->second;
    pids_.erase(p);
    auto it = running_.find(id);
    if (it == running_.end()) continue;
    FinishCommand(id, it->second, st);
  }
}

void Worker::FinishCommand(std::int64_t id, RunningJob& r, int wait_status) {
  CommandRun& c = *r.cmd;
  std::vector<std::string> lines;
  c.Reaped(wait_status, &lines);
  HandleStatusLines(r, lines);
  GroupEnded(c.pid());
  for (Stream s : kStreams) {
    Unwatch(c.fd(s));
    c.Close(s);
  }
  WriteProgress(r);
  ExitFacts facts{wait_status,   r.timed_out,     r.cancelled,
                  r.interrupted, r.type->timeout, &r.type->permanent_exit_codes};
  ExitOutcome o = ClassifyExit(facts, c.TakeOutput(), r.type->max_output);
  Completion done{id, r.job.attempt, o.kind, std::move(o.output), 0};
  if (o.kind == Completion::Kind::kFailed || o.kind == Completion::Kind::kFailedPermanent) {
    done.retry_delay_ms = RetryDelayMs(r);
  }
  spdlog::debug("job {} attempt {}: {}", id, r.job.attempt,
                done.kind == Completion::Kind::kSucceeded ? "succeeded" : done.output.substr(0, 200));
  Finish(id, std::move(done));
}

void Worker::OnHandlers() {
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
    Completion done =
        HandlerCompletion(std::move(o), r.interrupted, r.timed_out, r.type ? r.type->timeout : Duration(0));
    if (done.kind != Completion::Kind::kSucceeded) done.retry_delay_ms = RetryDelayMs(r);
    Finish(o.id, std::move(done));
  }
}

}  // namespace drover::worker_internal
