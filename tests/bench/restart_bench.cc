// Supervisor benchmark: kill -9 a worker many times and measure (a) kill -> replacement
// RUNNING (with restart_delay = 0, i.e. beyond the cool-off) and (b) kill -> the worker's
// claimed job queued again / claimed by another worker. Baseline in the same run: a bare
// fork-and-wait respawn loop whose child reports ready over a pipe (the physical floor).
//
//   restart_bench [--kills N]
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

void Report(const char* name, const std::vector<double>& ms) {
  std::printf("%-44s p50 %8.2f ms   p99 %8.2f ms   (n=%zu)\n", name, Median(ms), Percentile(ms, 99), ms.size());
}

}  // namespace
}  // namespace drover::bench

int main(int argc, char** argv) {
  using namespace drover;
  using namespace drover::bench;
  int kills = 50;
  for (int i = 1; i < argc; ++i) {
    if (!std::strcmp(argv[i], "--kills") && i + 1 < argc) kills = std::atoi(argv[++i]);
    else if (!std::strcmp(argv[i], "--quick")) kills = 5;
    else { std::fprintf(stderr, "usage: restart_bench [--kills N] [--quick]\n"); return 2; }
  }
  Daemon d(R"(
[pools.default]
workers = 2
concurrency = 1
[jobs.hold]
command = ["/bin/sleep", "30"]
)", "restart_delay = \"0s\"\nrestart_delay_max = \"0s\"\nlog_level = \"warn\"\n");
  if (!d.Start()) {
    std::fprintf(stderr, "droverd did not start:\n%s\n", d.Log().c_str());
    return 1;
  }
  auto store = d.Store();
  std::vector<double> restart_ms, requeue_ms;
  for (int i = 0; i < kills; ++i) {
    // One held job, so the killed worker owns a claim.
    EnqueueRequest r;
    r.type = "hold";
    Result<EnqueueResult> e = store->Enqueue(r);
    if (!e.ok()) return 1;
    std::int64_t id = e->id;
    if (!WaitFor([&] { return store->Get(id)->pid.has_value(); }, 5000)) return 1;
    Job j = *store->Get(id);
    std::string name = j.worker->substr(0, j.worker->find('@'));
    pid_t victim = static_cast<pid_t>(std::stol(j.worker->substr(j.worker->find('@') + 1)));
    std::int64_t t0 = MonotonicUs();
    kill(victim, SIGKILL);
    std::int64_t requeued = 0, running = 0;
    while (requeued == 0 || running == 0) {
      if (MonotonicUs() - t0 > 10'000'000) return 1;
      if (requeued == 0) {
        Job now = *store->Get(id);
        if (now.state != JobState::kRunning || now.attempts > j.attempts) requeued = MonotonicUs();
      }
      if (running == 0) {
        nlohmann::json p = d.Process(name);
        if (p["state"] == "RUNNING" && p["pid"].is_number() && p["pid"].get<pid_t>() != victim) running = MonotonicUs();
      }
      usleep(200);
    }
    restart_ms.push_back((running - t0) / 1000.0);
    requeue_ms.push_back((requeued - t0) / 1000.0);
    (void)store->Cancel(id);
    WaitFor([&] { return IsFinal(store->Get(id)->state); }, 5000);
  }
  std::printf("restart_bench: %d kill -9 of a worker holding a job; restart_delay = 0s\n", kills);
  Report("kill -> replacement RUNNING", restart_ms);
  Report("kill -> its job re-queued (or re-claimed)", requeue_ms);
  Report("baseline: bare fork respawn, ready over pipe", BaselineRespawn(kills));
  d.Stop();
  return 0;
}
