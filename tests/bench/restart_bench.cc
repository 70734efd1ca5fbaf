// Supervisor benchmark: kill -9 a worker many times and measure (a) kill -> replacement
// RUNNING (with restart_delay = 0, i.e. beyond the cool-off) and (b) kill -> the worker's
// claimed job queued again / claimed by another worker. Two configurations of droverd run in
// turn: the default, where the spare process becomes the replacement, and `spare = false`,
// where the supervisor forks one. Baseline in the same run: a bare fork-and-wait respawn loop
// whose child reports ready over a pipe (the physical floor of a fork-based restart).
//
// Kills are 100 ms apart: a used spare is replaced ~50 ms later. Crashes closer together are
// restarted by fork, which is what the `spare = false` rows measure.
//
//   restart_bench [--kills N] [--runs R] [--quick]
#include <poll.h>

#include <cstring>

#include "tests/bench/bench_util.h"
#include "tests/integration/daemon.h"

namespace drover::bench {
namespace {

using testing::Daemon;
using testing::WaitFor;

std::vector<double> BaselineRespawn(int n) {
  std::vector<double> out;
  for (int i = 0; i < n; ++i) {
    int p[2];
    if (pipe(p) != 0) std::exit(1);
    pid_t child = fork();
    if (child == 0) {
      pause();
      _exit(0);
    }
    usleep(1000);
    std::int64_t t0 = MonotonicUs();
    kill(child, SIGKILL);
    waitpid(child, nullptr, 0);
    pid_t next = fork();
    if (next == 0) {
      char c = 'r';
      (void)!write(p[1], &c, 1);
      _exit(0);
    }
    char c;
    (void)!read(p[0], &c, 1);
    out.push_back((MonotonicUs() - t0) / 1000.0);
    waitpid(next, nullptr, 0);
    close(p[0]);
    close(p[1]);
  }
  return out;
}

struct Samples {
  std::vector<double> restart_ms, requeue_ms;
};

// Kills the worker holding a job `kills` times; false if droverd misbehaved.
bool MeasureDaemon(bool spare, int kills, Samples* out) {
  Daemon d(R"(
[pools.default]
workers = 2
concurrency = 1
[jobs.hold]
command = ["/bin/sleep", "30"]
)",
           std::string("restart_delay = \"0s\"\nrestart_delay_max = \"0s\"\nlog_level = \"warn\"\nspare = ") +
               (spare ? "true" : "false") + "\n");
  if (!d.Start()) {
    std::fprintf(stderr, "droverd did not start:\n%s\n", d.Log().c_str());
    return false;
  }
  auto store = d.Store();
  for (int i = 0; i < kills; ++i) {
    usleep(100'000);
    // One held job, so the killed worker owns a claim.
    EnqueueRequest r;
    r.type = "hold";
    Result<EnqueueResult> e = store->Enqueue(r);
    if (!e.ok()) return false;
    std::int64_t id = e->id;
    if (!WaitFor([&] { return store->Get(id)->pid.has_value(); }, 5000)) return false;
    Job j = *store->Get(id);
    std::string name = j.worker->substr(0, j.worker->find('@'));
    pid_t victim = static_cast<pid_t>(std::stol(j.worker->substr(j.worker->find('@') + 1)));
    std::int64_t t0 = MonotonicUs();
    kill(victim, SIGKILL);
    std::int64_t requeued = 0, running = 0;
    while (requeued == 0 || running == 0) {
      if (MonotonicUs() - t0 > 10'000'000) return false;
      if (requeued == 0) {
        Job now = *store->Get(id);
        if (now.state != JobState::kRunning || now.attempts > j.attempts) requeued = MonotonicUs();
      }
      if (running == 0) {
        nlohmann::json p = d.Process(name);
        if (p["state"] == "RUNNING" && p["pid"].is_number() && p["pid"].get<pid_t>() != victim)
          running = MonotonicUs();
      }
      usleep(200);
    }
    out->restart_ms.push_back((running - t0) / 1000.0);
    out->requeue_ms.push_back((requeued - t0) / 1000.0);
    (void)store->Cancel(id);
    WaitFor([&] { return IsFinal(store->Get(id)->state); }, 5000);
  }
  d.Stop();
  return true;
}

// "p50 X (runs a / b / c)   p99 Y" with X and Y the medians over the runs.
void Report(const char* name, const std::vector<std::vector<double>>& runs, double baseline_p50) {
  std::vector<double> p50, p99;
  std::string each;
  for (const auto& r : runs) {
    p50.push_back(Median(r));
    p99.push_back(Percentile(r, 99));
    char buf[32];
    std::snprintf(buf, sizeof buf, "%s%.2f", each.empty() ? "" : " / ", p50.back());
    each += buf;
  }
  std::printf("%-40s p50 %6.2f ms  p99 %6.2f ms  x%-5.1f  (p50 per run: %s)\n", name, Median(p50),
              Median(p99), Median(p50) / baseline_p50, each.c_str());
}

}  // namespace
}  // namespace drover::bench

int main(int argc, char** argv) {
  using namespace drover::bench;
  int kills = 40, runs = 3;
  for (int i = 1; i < argc; ++i) {
    if (!std::strcmp(argv[i], "--kills") && i + 1 < argc)
      kills = std::atoi(argv[++i]);
    else if (!std::strcmp(argv[i], "--runs") && i + 1 < argc)
      runs = std::atoi(argv[++i]);
    else if (!std::strcmp(argv[i], "--quick"))
      kills = 5, runs = 1;
    else {
      std::fprintf(stderr, "usage: restart_bench [--kills N] [--runs R] [--quick]\n");
      return 2;
    }
  }
  std::vector<std::vector<double>> restart[2], requeue[2], baseline;
  for (int run = 0; run < runs; ++run) {
    for (bool spare : {true, false}) {
      Samples s;
      if (!MeasureDaemon(spare, kills, &s)) return 1;
      restart[spare].push_back(s.restart_ms);
      requeue[spare].push_back(s.requeue_ms);
    }
    baseline.push_back(BaselineRespawn(kills));
  }
  std::vector<double> base_p50;
  for (const auto& b : baseline) base_p50.push_back(Median(b));
  double base = Median(base_p50);
  std::printf("restart_bench: %d run(s) x %d kill -9 of a worker holding a job; restart_delay = 0s\n", runs,
              kills);
  std::printf("medians over the runs; xN = p50 / the bare fork respawn's p50\n");
  Report("spare: kill -> replacement RUNNING", restart[1], base);
  Report("spare: kill -> its job re-queued", requeue[1], base);
  Report("no spare: kill -> replacement RUNNING", restart[0], base);
  Report("no spare: kill -> its job re-queued", requeue[0], base);
  Report("baseline: bare fork respawn, ready", baseline, base);
  return 0;
}
