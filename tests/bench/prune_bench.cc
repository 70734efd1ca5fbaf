// Claim latency while retention pruning deletes a backlog of old finished jobs, and while an
// operator's bulk cancel (droverctl cancel --queue Q) takes a backlog of queued jobs.
// Each run: a fresh database with --old finished jobs (default 100,000), as many queued in a
// queue nobody serves, and a supply of queued ones; --workers processes complete-and-claim one
// job at a time, timing every call but a fresh connection's first. First a baseline phase
// without pruning, then the same with the scheduler's pruner (PruneFinishedJobs, the code droverd
// runs) deleting the backlog, then with droverctl's bulk cancel (ctl::ApplyInBatches). Prints medians over
// --runs of the worst, p99 and p50 claim latency of each phase, and the ratios to the baseline.
//
//   prune_bench [--runs N] [--old N] [--workers N]
#include <fcntl.h>
#include <sys/stat.h>

#include <cstring>
#include <fstream>
#include <string>

#include "common/sqlite.h"
#include "common/time_util.h"
#include "jobs/pruner.h"
#include "jobs/store/job_store.h"
#include "supervisor/ctl_bulk_verbs.h"
#include "tests/bench/bench_util.h"
#include "tests/temp_dir.h"

namespace drover::bench {
namespace {

StoreConfig Options() {
  StoreConfig o;
  o.background_maintenance = true;
  return o;
}

// `old` succeeded jobs finished at the epoch (so any retention prunes them), as many queued in
// queue "typo", and `queued` jobs.
void Seed(const std::string& path, int old, int queued) {
  std::unique_ptr<SqliteJobStore> store = OpenStore(path, Options());
  std::vector<EnqueueRequest> batch(1000);
  for (EnqueueRequest& r : batch) {
    r.type = "bench";
    r.payload = R"({"customer":12345,"report":"monthly","note":")" + std::string(120, 'x') + "\"}";
  }
  for (int i = 0; i < old; i += 1000) Check(store->EnqueueBatch(batch).status());
  Result<SqliteDb> db = SqliteDb::Open(path, {});
  Check(db.status());
  Check(
      db->Exec("UPDATE jobs SET state = 'succeeded', attempts = 1, started_at = 0, finished_at = 0, "
               "result = '{\"rows\":1000}'"));
  for (int i = 0; i < queued; i += 1000) Check(store->EnqueueBatch(batch).status());
  for (EnqueueRequest& r : batch) r.queue = "typo";
  for (int i = 0; i < old; i += 1000) Check(store->EnqueueBatch(batch).status());
  Check(store->Checkpoint(true));
  sync();  // the seeding's dirty pages must not be written back during the measurement
}

// Completes the previous job and claims the next until `stop_file` appears; writes one latency
// (µs, as text) per call to `out`.
int Worker(const std::string& db, const std::string& stop_file, const std::string& out, int index) {
  std::unique_ptr<JobStore> store = OpenStore(db, Options());
  const std::string name = "bench@" + std::to_string(index);
  const std::vector<std::string> queues{"default"};
  std::vector<Completion> done;
  std::vector<double> lat;
  bool first = true;
  struct stat st;
  while (stat(stop_file.c_str(), &st) != 0) {
    std::int64_t t0 = MonotonicUs();
    Result<std::vector<ClaimedJob>> c = store->CompleteAndClaim(name, {.done = done}, nullptr, queues, 1, 0);
    // The first call of a fresh connection reads the schema and warms its cache: not a wait.
    if (!first) lat.push_back(static_cast<double>(MonotonicUs() - t0));
    first = false;
    if (!c.ok()) {
      std::fprintf(stderr, "worker: %s\n", c.status().ToString().c_str());
      return 1;
    }
    done.clear();
    for (const ClaimedJob& j : *c)
      done.push_back(Completion{j.id, j.attempt, Completion::Kind::kSucceeded, "{}", 0});
    if (c->empty()) {
      std::fprintf(stderr, "worker: ran out of queued jobs; raise the supply\n");
      return 1;
    }
  }
  std::ofstream f(out);
  for (double v : lat) f << v << "\n";

  return 0;
}

struct Phase {
  double worst_ms = 0, p99_ms = 0, p50_ms = 0;
  size_t claims = 0;
};

// Runs the workers until `body` returns, then collects their latencies.
Phase RunPhase(const std::string& dir, const std::string& db, int workers,
               const std::function<void()>& body) {
  const std::string stop = dir + "/stop";
  unlink(stop.c_str());
  std::vector<pid_t> pids;
  for (int i = 0; i < workers; ++i) {
    pid_t p = fork();
    if (p == 0) _exit(Worker(db, stop, dir + "/lat" + std::to_string(i), i));
    pids.push_back(p);
  }
  usleep(200'000);  // let the workers reach their steady state
  body();
  std::ofstream(stop).put('x');
  std::vector<double> all;
  for (int i = 0; i < workers; ++i) {
    int status = 0;
    waitpid(pids[static_cast<size_t>(i)], &status, 0);
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) std::exit(1);
    std::ifstream f(dir + "/lat" + std::to_string(i));
    for (double v; f >> v;) all.push_back(v);
  }
  Phase ph;
  ph.claims = all.size();
  ph.worst_ms = *std::max_element(all.begin(), all.end()) / 1000.0;
  ph.p99_ms = Percentile(all, 99) / 1000.0;
  ph.p50_ms = Percentile(all, 50) / 1000.0;
  return ph;
}

}  // namespace
}  // namespace drover::bench

int main(int argc, char** argv) {
  using namespace drover;
  using namespace drover::bench;
  int runs = 3, old = 100'000, workers = 2;
  for (int i = 1; i + 1 < argc; i += 2) {
    std::string a = argv[i];
    if (a == "--runs")
      runs = std::atoi(argv[i + 1]);
    else if (a == "--old")
      old = std::atoi(argv[i + 1]);
    else if (a == "--workers")
      workers = std::atoi(argv[i + 1]);
  }
  std::vector<double> base_worst, base_p99, base_p50, prune_worst, prune_p99, prune_p50, prune_secs;
  std::vector<double> bulk_worst, bulk_p99, bulk_p50, bulk_secs;
  for (int r = 0; r < runs; ++r) {
    TempDir dir;
    const std::string db = dir.path() + "/jobs.db";
    Seed(db, old, 300'000);
    std::int64_t prune_us = 0;
    std::int64_t deleted = 0;
    // The baseline lasts as long as the pruning phase did in the previous run (or 2 s).
    std::int64_t window_us =
        prune_secs.empty() ? 2'000'000 : static_cast<std::int64_t>(prune_secs.back() * 1e6);
    // Both phases run what the scheduler runs meanwhile: a PASSIVE checkpoint every tick (1 s).
    Phase base = RunPhase(dir.path(), db, workers, [&] {
      std::unique_ptr<SqliteJobStore> store = OpenStore(db, Options());
      for (std::int64_t end = MonotonicUs() + window_us; MonotonicUs() < end;) {
        usleep(static_cast<useconds_t>(
            std::min<std::int64_t>(1'000'000, std::max<std::int64_t>(end - MonotonicUs(), 0))));
        Check(store->Checkpoint(false));
      }
    });
    Phase pruned = RunPhase(dir.path(), db, workers, [&] {
      std::unique_ptr<SqliteJobStore> store = OpenStore(db, Options());
      RetentionConfig keep;  // the default retention: 3 days for succeeded jobs
      std::int64_t t0 = MonotonicUs();
      PruneLimits unbounded;
      unbounded.max_batches_per_state = 1'000'000;
      deleted = PruneFinishedJobs(store.get(), keep, NowMs(), unbounded);
      prune_us = MonotonicUs() - t0;
      Check(store->Checkpoint(false));
    });
    std::int64_t cancelled = 0, bulk_us = 0;
    Phase bulk = RunPhase(dir.path(), db, workers, [&] {
      std::unique_ptr<SqliteJobStore> store = OpenStore(db, Options());
      JobSelector typo;
      typo.queue = "typo";
      std::int64_t t0 = MonotonicUs();
      BulkBatch total;
      Check(ctl::ApplyInBatches(store.get(), BulkAction::kCancel, typo, &total));
      cancelled = total.applied;
      bulk_us = MonotonicUs() - t0;
      Check(store->Checkpoint(false));
    });
    if (deleted != old || cancelled != old) {
      std::fprintf(stderr, "pruned %lld and cancelled %lld of %d jobs\n", static_cast<long long>(deleted),
                   static_cast<long long>(cancelled), old);
      return 1;
    }
    std::printf(
        "run %d: baseline worst %.2f ms p99 %.2f p50 %.3f (%zu claims) | pruning %lld jobs in %.2f s: "
        "worst %.2f ms p99 %.2f p50 %.3f (%zu claims) | bulk-cancelling %lld jobs in %.2f s: worst %.2f ms "
        "p99 "
        "%.2f p50 %.3f (%zu claims)\n",
        r + 1, base.worst_ms, base.p99_ms, base.p50_ms, base.claims, static_cast<long long>(deleted),
        prune_us / 1e6, pruned.worst_ms, pruned.p99_ms, pruned.p50_ms, pruned.claims,
        static_cast<long long>(cancelled), bulk_us / 1e6, bulk.worst_ms, bulk.p99_ms, bulk.p50_ms,
        bulk.claims);
    std::fflush(stdout);
    base_worst.push_back(base.worst_ms);
    base_p99.push_back(base.p99_ms);
    base_p50.push_back(base.p50_ms);
    prune_worst.push_back(pruned.worst_ms);
    prune_p99.push_back(pruned.p99_ms);
    prune_p50.push_back(pruned.p50_ms);
    prune_secs.push_back(prune_us / 1e6);
    bulk_worst.push_back(bulk.worst_ms);
    bulk_p99.push_back(bulk.p99_ms);
    bulk_p50.push_back(bulk.p50_ms);
    bulk_secs.push_back(bulk_us / 1e6);
  }
  std::printf("\nmedians of %d runs, %d workers, %d old jobs:\n", runs, workers, old);
  std::printf("  worst claim: baseline %.2f ms, while pruning %.2f ms (x%.2f; target <= 50 ms)\n",
              Median(base_worst), Median(prune_worst), Median(prune_worst) / Median(base_worst));
  std::printf("  p99 claim:   baseline %.2f ms, while pruning %.2f ms (x%.2f)\n", Median(base_p99),
              Median(prune_p99), Median(prune_p99) / Median(base_p99));
  std::printf("  p50 claim:   baseline %.3f ms, while pruning %.3f ms (x%.2f)\n", Median(base_p50),
              Median(prune_p50), Median(prune_p50) / Median(base_p50));
  std::printf("  pruning took %.2f s (%.0f jobs/s)\n", Median(prune_secs), old / Median(prune_secs));
  std::printf(
      "  worst claim while bulk-cancelling %.2f ms (x%.2f), p99 %.2f ms (x%.2f), p50 %.3f ms (x%.2f)\n",
      Median(bulk_worst), Median(bulk_worst) / Median(base_worst), Median(bulk_p99),
      Median(bulk_p99) / Median(base_p99), Median(bulk_p50), Median(bulk_p50) / Median(base_p50));
  std::printf("  bulk cancel took %.2f s (%.0f jobs/s)\n", Median(bulk_secs), old / Median(bulk_secs));
  return 0;
}
