#include "jobs/scheduler.h"

#include <poll.h>
#include <signal.h>
#include <spdlog/spdlog.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include <algorithm>
#include <optional>
#include <set>

#include "common/time_util.h"
#include "common/unique_fd.h"
#include "jobs/job_tally.h"
#include "jobs/pruner.h"
#include "jobs/report_line.h"
#include "jobs/schedule_runner.h"
#include "jobs/store/job_store.h"

namespace drover {
namespace {

class Scheduler {
 public:
  explicit Scheduler(const SchedulerOptions& o) : o_(o), store_(o.store) {}

  int Run() {
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGHUP);
    sigprocmask(SIG_BLOCK, &set, nullptr);
    sig_fd_.Reset(signalfd(-1, &set, SFD_CLOEXEC | SFD_NONBLOCK));
    schedules_.emplace(
        *o_.config, store_,
        [this](const ScheduleConfig& s, const std::vector<EnqueueResult>& runs, std::int64_t missed) {
          if (missed > 0) Report(MissedLine(s.name, missed));
          if (!EventsWanted()) return;
          for (const EnqueueResult& r : runs) {
            Report(EventLine(EventJson(
                "schedule", "fired",
                {{"schedule", s.name}, {"id", r.id}, {"type", s.job}, {"duplicate", r.duplicate}})));
          }
        });
    // Enqueuers that cannot read the configuration take the types' defaults from the table.
    Status started = store_->SyncJobTypes(JobTypeDefaultsOf(*o_.config));
    if (!started.ok()) {
      spdlog::error("scheduler cannot store the job types: {}", started.ToString());
      return 1;
    }
    started = schedules_->Start(NowMs());
    if (!started.ok()) {
      spdlog::error("scheduler cannot store the schedules: {}", started.ToString());
      return 1;
    }
    Report(ReadyLine());
    spdlog::info("started; tick {}, {} schedule(s)", FormatDuration(o_.config->scheduler.tick),
                 o_.config->schedules.size());
    const std::int64_t tick_ms = o_.config->scheduler.tick.count();
    const std::int64_t hb_ms =
        std::clamp<std::int64_t>(o_.config->supervisor.hang_timeout.count() / 4, 50, 1000);
    std::int64_t next_tick = 0;
    std::optional<std::int64_t> next_run = 0;  // wall-clock ms at which a schedule is due
    while (true) {
      std::int64_t now = MonotonicUs() / 1000;
      if (now >= next_tick) {
        Tick();
        next_tick = now + tick_ms;
      }
      // Schedules fire on time, not on the next tick; the table is read only when a slot is due.
      if (next_run && NowMs() >= *next_run) next_run = schedules_->RunDue(NowMs());
      std::int64_t wake = next_tick;
      if (next_run) wake = std::min(wake, now + std::max<std::int64_t>(*next_run - NowMs(), 0));
      Report(HeartbeatLine({}));
      pollfd p{sig_fd_.get(), POLLIN, 0};
      int timeout = static_cast<int>(std::clamp<std::int64_t>(std::min(wake - now, hb_ms), 0, 60'000));
      if (poll(&p, 1, timeout) > 0) {
        signalfd_siginfo si;
        while (read(sig_fd_.get(), &si, sizeof si) == sizeof si) {
          if (si.ssi_signo != SIGHUP) {
            spdlog::info("stopping");
            return 0;
          }
        }
      }
    }
  }

 private:
  bool EventsWanted() const { return o_.events && o_.events->open(); }

  void Report(const std::string& line) {
    if (o_.supervisor_fd < 0) return;
    (void)!write(o_.supervisor_fd, line.data(), line.size());
  }

  void Tick() {
    std::int64_t now = NowMs();
    if (!Lead(now)) return;
    Result<std::vector<std::int64_t>> reaped = store_->ReapExpiredLeases(now);
    if (!reaped.ok()) {
      spdlog::warn("{}", reaped.status().ToString());
    } else if (!reaped->empty()) {
      spdlog::warn("re-queued {} job(s) whose lease expired (first: {})", reaped->size(), reaped->front());
    }
    Result<std::vector<JobRef>> expired = store_->ExpireJobs(now);
    if (!expired.ok()) {
      spdlog::warn("{}", expired.status().ToString());
    } else if (!expired->empty()) {
      spdlog::info("{} job(s) expired before they could start", expired->size());
      JobTally tally;
      for (const JobRef& j : *expired) {
        tally.Finished(j.queue, j.type, JobOutcome::kExpired, 0);
        if (EventsWanted())
          Report(
              EventLine(EventJson("job", "expired", {{"id", j.id}, {"queue", j.queue}, {"type", j.type}})));
      }
      Report(tally.Lines());
    }
    WarnStuck(now);
    PruneFinishedJobs(store_, o_.config->scheduler.retention, now);
    Result<MaintenanceReport> m = store_->Maintain();
    if (!m.ok())
      spdlog::warn("{}", m.status().ToString());
    else if (m->released_bytes > 0)
      spdlog::debug("released {} of the database file", FormatSize(m->released_bytes));
  }

  // The node's heartbeat. Maintenance is the leader's alone (on SQLite this scheduler always
  // leads); the leader also re-queues the jobs of nodes gone silent.
  bool Lead(std::int64_t now) {
    const SupervisorConfig& s = o_.config->supervisor;
    const std::int64_t timeout = s.node_timeout.count();
    Result<bool> leads = store_->Heartbeat(s.node, true, timeout);
    if (!leads.ok()) {
      spdlog::warn("{}", leads.status().ToString());
      return false;
    }
    if (*leads != leader_ && IsPostgresDatabase(s.database)) {
      if (*leads)
        spdlog::info("node {} leads: maintenance and the rescue of dead nodes' jobs run here", s.node);
      else
        spdlog::info("node {} no longer leads", s.node);
    }
    leader_ = *leads;
    if (!leader_) return false;
    Result<std::vector<std::int64_t>> rescued = store_->RescueDeadNodes(now, timeout);
    if (!rescued.ok()) {
      spdlog::warn("{}", rescued.status().ToString());
    } else if (!rescued->empty()) {
      spdlog::warn("re-queued {} job(s) of node(s) silent for {} (first: {})", rescued->size(),
                   FormatDuration(s.node_timeout), rescued->front());
    }
    return true;
  }

  // Logs each attempt that runs longer than stuck_after once.
  void WarnStuck(std::int64_t now) {
    const Duration limit = o_.config->scheduler.stuck_after;
    if (limit.count() <= 0) return;
    Result<std::vector<Job>> stuck = store_->RunningSince(now - limit.count());
    if (!stuck.ok()) {
      spdlog::warn("{}", stuck.status().ToString());
      return;
    }
    std::set<std::pair<std::int64_t, int>> still;  // (id, attempt): a new attempt is a new warning
    for (const Job& j : *stuck) {
      still.emplace(j.id, j.attempts);
      if (warned_.count({j.id, j.attempts})) continue;
      spdlog::warn("job {} ({}) has been running for {} on {} (attempt {}; stuck_after = {})", j.id, j.type,
                   FormatDuration(Duration((now - j.started_at_ms.value_or(now)) / 1000 * 1000)),
                   j.worker.value_or("?"), j.attempts, FormatDuration(limit));
    }
    warned_ = std::move(still);
  }

  const SchedulerOptions& o_;
  JobStore* const store_;
  UniqueFd sig_fd_;
  std::optional<ScheduleRunner> schedules_;
  std::set<std::pair<std::int64_t, int>> warned_;  // stuck attempts already logged
  bool leader_ = false;
};

}  // namespace

int RunScheduler(const SchedulerOptions& options) { return Scheduler(options).Run(); }

}  // namespace drover
