// Worker (worker_internal.h): jobs run by long-lived runners ([runners.NAME]): starting and
// restarting runners, handing them jobs, their answers, and what becomes of their jobs when a
// runner dies or is killed. The protocol is in jobs/runner_protocol.h.

#include <spdlog/spdlog.h>
#include <sys/epoll.h>
#include <unistd.h>

#include <algorithm>

#include "common/backoff.h"
#include "common/time_util.h"
#include "common/wait_status.h"
#include "jobs/report_line.h"
#include "jobs/runner_protocol.h"
#include "jobs/worker_internal.h"

namespace drover::worker_internal {
namespace {

constexpr size_t kErrTailBytes = 2048;
// A runner that dies sooner than this after its start counts as a failed start (cool-off grows).
constexpr std::int64_t kRunnerSettledUs = 10'000'000;
// How long a retired runner may take to exit once its input ended, and one that closed its
// stdout once it did.
constexpr std::int64_t kRetiredExitUs = 5'000'000;
constexpr std::int64_t kClosedExitUs = 1'000'000;

std::string RunnerLabel(const RunnerSlot& s) {
  return "runner " + s.config->name + (s.proc ? " (pid " + std::to_string(s.proc->pid()) + ")" : "");
}

// "; its last stderr: ..." when it wrote any.
std::string StderrNote(const RunnerSlot& s) {
  return s.err_tail.empty() ? "" : "; its last stderr: " + s.err_tail;
}

}  // namespace

void Worker::InitRunners() {
  for (const auto& [name, config] : o_.config->runners) runners_.emplace_back().config = &config;
  for (int i = 0; i < static_cast<int>(runners_.size()); ++i) {
    const std::string& name = runners_[i].config->name;
    bool serves_pool = std::any_of(o_.config->jobs.begin(), o_.config->jobs.end(), [&](const auto& j) {
      const auto& q = o_.pool->queues;
      return j.second.runner == name && std::find(q.begin(), q.end(), j.second.queue) != q.end();
    });
    if (serves_pool) EnsureRunner(i);  // ready before its first job: no start-up in the job's latency
  }
}

void Worker::StartRunnerJob(RunningJob& r) {
  auto it = std::find_if(runners_.begin(), runners_.end(),
                         [&](const RunnerSlot& s) { return s.config->name == r.type->runner; });
  r.runner = static_cast<int>(it - runners_.begin());
  RunnerSlot& slot = *it;
  if (slot.proc && slot.ready && !slot.retiring) {
    SendRun(slot, r);
    return;
  }
  slot.waiting.push_back(r.job.id);
  EnsureRunner(r.runner);
}

void Worker::SendRun(RunnerSlot& slot, RunningJob& r) {
  if (!slot.types.count(r.job.type)) {
    std::string served;
    for (const std::string& t : slot.types) served += (served.empty() ? "" : ", ") + t;
    std::string why = RunnerLabel(slot) + " does not serve job type \"" + r.job.type +
                      "\" (its hello named: " + (served.empty() ? "none" : served) + ")";
    spdlog::error("job {}: {}", r.job.id, why);
    EndRunnerJob(r, {r.job.id, r.job.attempt, Completion::Kind::kFailedPermanent, why, 0});
    return;
  }
  slot.proc->Queue(RunMessage(r.job, r.type->timeout));
  slot.held.insert(r.job.id);
  r.sent = true;
  spdlog::debug("job {} ({}) attempt {}: sent to {}", r.job.id, r.job.type, r.job.attempt, RunnerLabel(slot));
}

void Worker::EnsureRunner(int i) {
  RunnerSlot& slot = runners_[i];
  if (slot.proc || draining_) return;
  std::int64_t now = MonotonicUs();
  if (slot.restart_at_us > now) {
    timers_.Set({kRunnerRestart, i}, slot.restart_at_us);
    return;
  }
  std::map<std::string, std::string> env = {{"DROVER_RUNNER", slot.config->name},
                                            {"DROVER_PROTOCOL", std::to_string(kRunnerProtocolVersion)},
                                            {"DROVER_CONCURRENCY", std::to_string(o_.pool->concurrency)},
                                            {"DROVER_WORKER", o_.name}};
  Result<std::unique_ptr<RunnerProcess>> p = RunnerProcess::Start(*slot.config, env);
  if (!p.ok()) {
    slot.failures++;
    slot.restart_at_us = now + Us(BackoffDelay({o_.config->supervisor.restart_delay,
                                                o_.config->supervisor.restart_delay_max, kRetryJitter},
                                               slot.failures, rng_));
    std::string why = "cannot start: " + p.status().ToString();
    spdlog::error("runner {} {}", slot.config->name, why);
    ReportRunner(slot, why);
    ReleaseRunnerWaiters(slot);
    return;
  }
  slot.proc = std::move(p).value();
  slot.ready = false;
  slot.retiring = false;
  slot.kill_reason.clear();
  slot.others_innocent = false;
  slot.err_tail.clear();
  slot.started_us = now;
  slot.jobs_done = 0;
  runner_pids_[slot.proc->pid()] = i;
  // droverd kills the group (and the job processes a forking runner made) if this worker dies,
  // before it re-queues the jobs.
  GroupStarted(slot.proc->pid());
  Status w = Watch(slot.proc->out_fd(), {FdKind::kRunnerOut, i});
  if (w.ok()) w = Watch(slot.proc->err_fd(), {FdKind::kRunnerErr, i});
  if (!w.ok()) {
    KillRunner(i, w.ToString(), false);
    return;
  }
  timers_.Set({kRunnerHello, i}, now + Us(slot.config->start_timeout));
  spdlog::info("{} started: {}", RunnerLabel(slot), slot.config->command[0]);
  ReportRunner(slot, "");
}

void Worker::FlushRunners() {
  for (int i = 0; i < static_cast<int>(runners_.size()); ++i) {
    RunnerSlot& slot = runners_[i];
    if (!slot.proc) continue;
    const bool broken = !slot.proc->Flush();
    const int fd = slot.proc->in_fd();  // -1 once closed (then it left the epoll set by itself)
    const bool want = fd >= 0 && slot.proc->write_pending();
    if (slot.in_watched_fd >= 0 && !want) {
      if (fd == slot.in_watched_fd) epoll_ctl(epoll_.get(), EPOLL_CTL_DEL, fd, nullptr);
      fds_.erase(slot.in_watched_fd);
      slot.in_watched_fd = -1;
    }
    if (want && slot.in_watched_fd < 0) {
      epoll_event ev{};
      ev.events = EPOLLOUT;
      ev.data.fd = fd;
      if (epoll_ctl(epoll_.get(), EPOLL_CTL_ADD, fd, &ev) == 0) {
        fds_[fd] = {FdKind::kRunnerIn, i};
        slot.in_watched_fd = fd;
      }
    }
    // It closed its stdin: it can take no more jobs.
    if (broken) KillRunner(i, "it closed its stdin", false);
  }
}

void Worker::OnRunnerFd(FdRef ref) {
  int i = static_cast<int>(ref.job);
  RunnerSlot& slot = runners_[i];
  if (!slot.proc) return;
  if (ref.kind == FdKind::kRunnerIn) return;  // FlushRunners writes, at the end of this turn
  if (ref.kind == FdKind::kRunnerErr) {
    std::vector<std::string> lines;
    bool open = slot.proc->ReadLog(&lines);
    for (const std::string& line : lines) {
      spdlog::info("{}: {}", RunnerLabel(slot), line);
      slot.err_tail += line + "\n";
    }
    if (slot.err_tail.size() > kErrTailBytes) slot.err_tail.erase(0, slot.err_tail.size() - kErrTailBytes);
    if (!open) {
      Unwatch(slot.proc->err_fd());
      slot.proc->CloseLog();
    }
    return;
  }
  std::vector<std::string> lines;
  RunnerProcess::ReadEnd end = slot.proc->ReadLines(&lines);
  for (const std::string& line : lines) {
    OnRunnerLine(i, line);
    if (!slot.proc || !slot.kill_reason.empty()) return;  // it broke the protocol
  }
  if (end == RunnerProcess::ReadEnd::kLineTooLong) {
    KillRunner(i, "wrote a line longer than " + FormatSize(kMaxRunnerLineBytes), false);
  } else if (end == RunnerProcess::ReadEnd::kEof) {
    Unwatch(slot.proc->out_fd());
    slot.proc->CloseOutput();
    // It is exiting, or it is of no more use: its exit (reaped) ends its jobs.
    timers_.SetEarliest({kRunnerExit, i}, MonotonicUs() + kClosedExitUs);
  }
}

void Worker::OnRunnerLine(int i, const std::string& line) {
  RunnerSlot& slot = runners_[i];
  Result<RunnerMessage> parsed = ParseRunnerMessage(line);
  auto shown = [&] { return line.size() > 200 ? line.substr(0, 200) + "…" : line; };
  if (!parsed.ok()) {
    KillRunner(i, "bad line (" + parsed.status().message() + "): " + shown(), false);
    return;
  }
  RunnerMessage& m = *parsed;
  if (m.op == RunnerMessage::Op::kHello) {
    if (slot.ready) {
      KillRunner(i, "a second hello: " + shown(), false);
      return;
    }
    OnRunnerHello(i, m);
    return;
  }
  if (!slot.held.count(m.id)) {
    KillRunner(i, "a message for job " + std::to_string(m.id) + ", which it does not hold: " + shown(),
               false);
    return;
  }
  RunningJob& r = running_.at(m.id);
  if (m.op == RunnerMessage::Op::kProgress) {
    if (m.progress.checkpoint && m.progress.checkpoint->size() > kMaxCheckpointBytes) {
      spdlog::warn("job {}: checkpoint of {} bytes is over the limit of 64 KiB; not kept", m.id,
                   m.progress.checkpoint->size());
      m.progress.checkpoint.reset();
    }
    r.progress.Merge(std::move(m.progress));
    ArmProgress(r);
    return;
  }
  if (r.progress.due_us() > 0) WriteProgress(r);  // its last report stays, as a command's does
  const std::uint64_t max_output = r.type->max_output;
  HandlerOutcome o{m.id, r.job.attempt, HandlerResult::Ok(std::move(m.result))};
  if (m.op == RunnerMessage::Op::kFail) {
    std::string error = m.error.size() > max_output ? m.error.substr(0, max_output) : m.error;
    o.result = m.retry ? HandlerResult::Retry(std::move(error)) : HandlerResult::Fail(std::move(error));
  } else if (o.result.output.size() > max_output) {
    o.result = HandlerResult::Fail("result of " + FormatSize(o.result.output.size()) +
                                   " is over max_output " + FormatSize(max_output));
  }
  Completion done = HandlerCompletion(std::move(o), r.interrupted, r.timed_out, r.type->timeout);
  // As for a command: a job stopped by its cancel or timeout did not succeed, whatever it answered.
  if (r.cancelled && !r.interrupted) {
    done = {m.id, r.job.attempt, Completion::Kind::kFailed, "cancelled", 0};
  } else if (r.timed_out && done.kind == Completion::Kind::kSucceeded) {
    done = {m.id, r.job.attempt, Completion::Kind::kFailed,
            "timed out after " + FormatDuration(r.type->timeout), 0};
  }
  if (done.kind != Completion::Kind::kSucceeded) done.retry_delay_ms = RetryDelayMs(r);
  EndRunnerJob(r, std::move(done));
  slot.jobs_done++;
  CheckRunnerHygiene(i, false);
}

void Worker::OnRunnerHello(int i, const RunnerMessage& m) {
  RunnerSlot& slot = runners_[i];
  if (m.protocol != kRunnerProtocolVersion) {
    KillRunner(i,
               "speaks protocol " + std::to_string(m.protocol) + ", this drover speaks " +
                   std::to_string(kRunnerProtocolVersion),
               false);
    return;
  }
  timers_.Clear({kRunnerHello, i});
  slot.ready = true;
  slot.types = std::set<std::string>(m.types.begin(), m.types.end());
  for (const auto& [name, job] : o_.config->jobs) {
    if (job.runner == slot.config->name && !slot.types.count(name)) {
      spdlog::warn("{} does not serve [jobs.{}], which names it: its jobs will fail", RunnerLabel(slot),
                   name);
    }
  }
  spdlog::info("{} ready{}: serves {} job type(s)", RunnerLabel(slot),
               m.isolation.empty() ? "" : ", isolation " + m.isolation, slot.types.size());
  ReportRunner(slot, "");
  std::vector<std::int64_t> waiting = std::move(slot.waiting);
  slot.waiting.clear();
  for (std::int64_t id : waiting) {
    if (auto it = running_.find(id); it != running_.end()) SendRun(slot, it->second);
  }
}

void Worker::KillRunner(int i, const std::string& why, bool others_innocent) {
  RunnerSlot& slot = runners_[i];
  if (!slot.proc || !slot.kill_reason.empty()) return;
  spdlog::error("{}: {}; killing it ({} job(s) held)", RunnerLabel(slot), why, slot.held.size());
  slot.kill_reason = why;
  slot.others_innocent = others_innocent;
  slot.proc->Kill();
}

void Worker::RunnerExited(int i, int wait_status) {
  RunnerSlot& slot = runners_[i];
  slot.proc->Reaped();
  // What it wrote before it exited still counts (a last `done`).
  if (slot.proc->out_fd() >= 0 && slot.kill_reason.empty()) OnRunnerFd({FdKind::kRunnerOut, i});
  if (slot.proc->err_fd() >= 0) OnRunnerFd({FdKind::kRunnerErr, i});
  const std::int64_t now = MonotonicUs();
  const bool planned = slot.retiring && slot.held.empty() && slot.kill_reason.empty();
  // Killed for a job that would not stop: nothing wrong with the runner, no cool-off.
  const bool blameless = planned || slot.others_innocent;
  std::string how = RunnerLabel(slot) + " " + DescribeWaitStatus(wait_status);
  if (!slot.kill_reason.empty()) how += " (killed: " + slot.kill_reason + ")";
  if (planned) {
    spdlog::info("{} (retired)", how);
  } else {
    spdlog::error("{}{}", how, StderrNote(slot));
  }
  std::vector<std::int64_t> held(slot.held.begin(), slot.held.end());
  for (std::int64_t id : held) {
    RunningJob& r = running_.at(id);
    Completion done{id, r.job.attempt, Completion::Kind::kFailed, "", 0};
    if (r.interrupted) {
      done.kind = Completion::Kind::kInterrupted;
      done.output = "interrupted by shutdown";
    } else if (r.cancelled) {
      done.output = "cancelled";
    } else if (r.timed_out) {
      done.output = "timed out after " + FormatDuration(r.type->timeout);
    } else if (slot.others_innocent) {
      done.kind = Completion::Kind::kInterrupted;
      done.output = "re-queued: " + how;
    } else {
      done.output = how + " while running the job" + StderrNote(slot);
    }
    if (done.kind == Completion::Kind::kFailed) done.retry_delay_ms = RetryDelayMs(r);
    EndRunnerJob(r, std::move(done));
  }
  for (int kind : {kRunnerHello, kRunnerExit}) timers_.Clear({kind, i});
  for (int fd : {slot.in_watched_fd, slot.proc->out_fd(), slot.proc->err_fd()}) Unwatch(fd);
  runner_pids_.erase(slot.proc->pid());
  GroupEnded(slot.proc->pid());
  const bool said_hello = slot.ready;
  slot.proc.reset();
  slot.ready = false;
  slot.in_watched_fd = -1;
  // A runner that never got going cools off longer each time; the jobs waiting for it never ran.
  if (blameless || (said_hello && now - slot.started_us >= kRunnerSettledUs)) {
    slot.failures = 0;
    slot.restart_at_us = 0;
  } else {
    slot.failures++;
    slot.restart_at_us = now + Us(BackoffDelay({o_.config->supervisor.restart_delay,
                                                o_.config->supervisor.restart_delay_max, kRetryJitter},
                                               slot.failures, rng_));
  }
  if (slot.failures > 0) ReportRunner(slot, how + StderrNote(slot));
  if (!said_hello) ReleaseRunnerWaiters(slot);
  EnsureRunner(i);  // now, or after the cool-off
}

// Tells droverd (status, the dashboard, /metrics) how the runner fares: ready, starting, or
// cooling off after `failures` failed starts, the last for `why`.
void Worker::ReportRunner(const RunnerSlot& slot, const std::string& why) {
  const std::int64_t now = MonotonicUs();
  const char* state = slot.proc ? (slot.ready ? "ready" : "starting") : "backoff";
  const std::int64_t next_ms = slot.proc ? 0 : std::max<std::int64_t>(0, slot.restart_at_us - now) / 1000;
  // Once it said hello the run of failures is over (the cool-off resets only once it lasted).
  Report(RunnerLine(slot.config->name, state, slot.ready ? 0 : slot.failures, next_ms, why));
}

// A broken deploy (an ImportError, a missing program) must not use up the attempts of every job
// handed to the runner: they never ran. They go back to their place in the queue, uncharged, and
// wait for a runner that starts (this one after its cool-off, or another worker's).
void Worker::ReleaseRunnerWaiters(RunnerSlot& slot) {
  std::vector<std::int64_t> waiting = std::exchange(slot.waiting, {});
  int released = 0;
  for (std::int64_t id : waiting) {
    if (auto it = running_.find(id); it != running_.end()) {
      EndRunnerJob(it->second, {id, it->second.job.attempt, Completion::Kind::kReleased, "", 0});
      ++released;
    }
  }
  if (released > 0) {
    spdlog::warn(
        "{} job(s) waiting for runner {} back to the queue, no attempt spent; it starts again in {}",
        released, slot.config->name,
        FormatDuration(Duration(std::max<std::int64_t>(0, slot.restart_at_us - MonotonicUs()) / 1000)));
  }
}

void Worker::StopRunnerJob(RunningJob& r, const char* why) {
  RunnerSlot& slot = runners_[r.runner];
  if (!r.sent) {  // never reached a runner: it ends here
    std::erase(slot.waiting, r.job.id);
    Completion done{r.job.id, r.job.attempt, Completion::Kind::kFailed, "cancelled", 0};
    if (r.interrupted) {
      done = {r.job.id, r.job.attempt, Completion::Kind::kInterrupted, "interrupted by shutdown", 0};
    } else if (r.timed_out) {  // its timeout is for running, which it never did
      spdlog::warn("job {}: waited {} for {}; back to the queue, no attempt spent", r.job.id,
                   FormatDuration(r.type->timeout), RunnerLabel(slot));
      done = {r.job.id, r.job.attempt, Completion::Kind::kReleased, "", 0};
    }
    EndRunnerJob(r, std::move(done));
    return;
  }
  if (r.stopping || !slot.proc) return;
  r.stopping = true;
  spdlog::info("job {}: {}: cancel sent to {}", r.job.id, why, RunnerLabel(slot));
  const char* reason = r.interrupted ? "shutdown" : r.timed_out ? "timeout" : "cancel";
  slot.proc->Queue(CancelMessage(r.job.id, reason));
  timers_.Set({kJobKill, r.job.id}, MonotonicUs() + Us(r.type->kill_after));
}

void Worker::EndRunnerJob(RunningJob& r, Completion done) {
  const int i = r.runner;
  RunnerSlot& slot = runners_[i];
  slot.held.erase(r.job.id);
  Finish(r.job.id, std::move(done));  // r is gone from here on
  if (slot.retiring && slot.held.empty() && slot.proc && slot.proc->in_fd() >= 0) {
    slot.proc->CloseInput();
    timers_.Set({kRunnerExit, i}, MonotonicUs() + kRetiredExitUs);
  }
}

void Worker::CheckRunnerHygiene(int i, bool periodic) {
  RunnerSlot& slot = runners_[i];
  if (!slot.proc || !slot.ready || slot.retiring || !slot.kill_reason.empty()) return;
  const RunnerConfig& c = *slot.config;
  if (c.max_jobs > 0 && slot.jobs_done >= c.max_jobs) {
    RetireRunner(i, "ran " + std::to_string(slot.jobs_done) + " jobs (max_jobs)");
  } else if (periodic && c.max_age.count() > 0 && MonotonicUs() - slot.started_us >= Us(c.max_age)) {
    RetireRunner(i, "older than max_age " + FormatDuration(c.max_age));
  } else if (periodic && c.max_memory > 0) {
    if (std::uint64_t rss = slot.proc->ResidentBytes(); rss > c.max_memory) {
      RetireRunner(i, "RSS " + FormatSize(rss) + " above max_memory " + FormatSize(c.max_memory));
    }
  }
}

void Worker::RetireRunner(int i, const std::string& why) {
  RunnerSlot& slot = runners_[i];
  spdlog::info("{}: recycling: {}; it finishes its {} job(s) first", RunnerLabel(slot), why,
               slot.held.size());
  slot.retiring = true;
  if (slot.held.empty()) {
    slot.proc->CloseInput();
    timers_.Set({kRunnerExit, i}, MonotonicUs() + kRetiredExitUs);
  }
}

}  // namespace drover::worker_internal
