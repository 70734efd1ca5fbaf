#include "jobs/scheduler.h"

#include <poll.h>
#include <signal.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include <algorithm>

#include <spdlog/spdlog.h>

#include "common/time_util.h"
#include "common/unique_fd.h"
#include "jobs/job_store.h"

namespace drover {
namespace {

constexpr int kPruneBatch = 500;

class Scheduler {
 public:
  explicit Scheduler(const SchedulerOptions& o) : o_(o) {}

  int Run() {
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGHUP);
    sigprocmask(SIG_BLOCK, &set, nullptr);
    sig_fd_.Reset(signalfd(-1, &set, SFD_CLOEXEC | SFD_NONBLOCK));
    StoreOptions so;
    so.lease = o_.config->supervisor.lease;
    so.synchronous_full = o_.config->supervisor.synchronous_full;
    so.background_checkpoints = true;
    Result<std::unique_ptr<JobStore>> store = OpenSqliteJobStore(o_.config->supervisor.database, so);
    if (!store.ok()) {
      spdlog::error("scheduler cannot start: {}", store.status().ToString());
      return 1;
    }
    store_ = std::move(store).value();
    Report("ready");
    spdlog::info("started; tick {}", FormatDuration(o_.config->scheduler.tick));
    if (!o_.config->schedules.empty()) {
      spdlog::warn("{} [schedules] are configured but this version does not run periodic schedules yet",
                   o_.config->schedules.size());
    }
    const std::int64_t tick_ms = o_.config->scheduler.tick.count();
    const std::int64_t hb_ms = std::clamp<std::int64_t>(o_.config->supervisor.hang_timeout.count() / 4, 50, 1000);
    std::int64_t next_tick = 0;
    while (true) {
      std::int64_t now = MonotonicUs() / 1000;
      if (now >= next_tick) {
        Tick();
        next_tick = now + tick_ms;
      }
      Report("hb");
      pollfd p{sig_fd_.get(), POLLIN, 0};
      int timeout = static_cast<int>(std::clamp<std::int64_t>(std::min(next_tick - now, hb_ms), 0, 60'000));
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
  void Report(const char* line) {
    if (o_.supervisor_fd < 0) return;
    std::string msg = std::string(line) + "\n";
    (void)!write(o_.supervisor_fd, msg.data(), msg.size());
  }

  void Tick() {
    std::int64_t now = NowMs();
    Result<std::vector<std::int64_t>> reaped = store_->ReapExpiredLeases(now);
    if (!reaped.ok()) {
      spdlog::warn("{}", reaped.status().ToString());
    } else if (!reaped->empty()) {
      spdlog::warn("re-queued {} job(s) whose lease expired (first: {})", reaped->size(), reaped->front());
    }
    Result<int> expired = store_->ExpireJobs(now);
    if (!expired.ok()) spdlog::warn("{}", expired.status().ToString());
    else if (*expired > 0) spdlog::info("{} job(s) expired before they could start", *expired);
    Prune(now);
    Status s = store_->Checkpoint(false);
    if (!s.ok()) spdlog::warn("{}", s.ToString());
  }

  // Deletes in small batches, each its own short transaction, so workers wait at most one
  // batch for the write lock.
  void Prune(std::int64_t now) {
    const RetentionConfig& r = o_.config->scheduler.retention;
    const std::pair<JobState, Duration> rules[] = {{JobState::kSucceeded, r.succeeded},
                                                   {JobState::kFailed, r.failed},
                                                   {JobState::kCancelled, r.cancelled},
                                                   {JobState::kExpired, r.expired}};
    for (auto [state, keep] : rules) {
      int total = 0;
      for (int i = 0; i < 200; ++i) {  // bounded per tick; the rest next tick
        Result<int> n = store_->Prune(state, now - keep.count(), kPruneBatch);
        if (!n.ok()) {
          spdlog::warn("{}", n.status().ToString());
          break;
        }
        total += *n;
        if (*n < kPruneBatch) break;
        usleep(1000);
      }
      if (total > 0) spdlog::info("pruned {} {} job(s) older than {}", total, JobStateName(state), FormatDuration(keep));
    }
  }

  const SchedulerOptions& o_;
  UniqueFd sig_fd_;
  std::unique_ptr<JobStore> store_;
};

}  // namespace

int RunScheduler(const SchedulerOptions& options) { return Scheduler(options).Run(); }

}  // namespace drover
