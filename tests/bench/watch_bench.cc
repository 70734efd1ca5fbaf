// What watching droverd costs, on a job table of 1,000,000 rows (SQLite):
//  - claim latency: one process claims and finishes jobs one at a time (a worker's transaction),
//    while droverd's /metrics is scraped every 100 ms, against the same without scraping,
//    alternating, in the same run;
//  - the dashboard's pages: time to the whole response of the first page of /jobs (no filter,
//    and each filter), of a job, of the overview, the queues and /metrics (these three show queue
//    figures that a child process of droverd re-reads in the background: store_view.h).
//
//   watch_bench [--runs N] [--rows N] [--quick]
#include <fmt/format.h>

#include <atomic>
#include <chrono>
#include <cstring>
#include <fstream>
#include <thread>

#include "tests/bench/bench_util.h"
#include "tests/integration/daemon.h"
#include "tests/integration/http.h"

namespace drover::bench {
namespace {

using testing::Daemon;
using testing::HttpGet;
using testing::HttpReply;

void Die(const std::string& why) {
  std::fprintf(stderr, "watch_bench: %s\n", why.c_str());
  std::exit(1);
}

double MsSince(std::int64_t start_us) { return static_cast<double>(MonotonicUs() - start_us) / 1000; }

// Claims and finishes jobs of queue "bulk" one at a time for `seconds`; the latency of each
// transaction, in ms.
std::vector<double> ClaimLoop(JobStore* store, double seconds) {
  std::vector<double> ms;
  std::vector<Completion> done;
  std::vector<CompletionResult> results;
  const std::int64_t end = MonotonicUs() + static_cast<std::int64_t>(seconds * 1e6);
  while (MonotonicUs() < end) {
    std::int64_t t0 = MonotonicUs();
    Result<std::vector<ClaimedJob>> c =
        store->CompleteAndClaim("bench@1", {.done = done}, &results, {"bulk"}, 1, 0);
    ms.push_back(MsSince(t0));
    if (!c.ok()) Die(c.status().ToString());
    if (c->empty()) Die("the bulk queue ran dry: use more --rows");
    done = {{(*c)[0].id, (*c)[0].attempt, Completion::Kind::kSucceeded, "", 0}};
  }
  return ms;
}

}  // namespace
}  // namespace drover::bench

int main(int argc, char** argv) {
  using namespace drover;
  using namespace drover::bench;
  int runs = 5, rows = 1'000'000;
  double phase_s = 3;
  for (int i = 1; i < argc; ++i) {
    if (!std::strcmp(argv[i], "--runs") && i + 1 < argc) {
      runs = std::atoi(argv[++i]);
    } else if (!std::strcmp(argv[i], "--rows") && i + 1 < argc) {
      rows = std::atoi(argv[++i]);
    } else if (!std::strcmp(argv[i], "--quick")) {
      runs = 2;
      rows = 50'000;
      phase_s = 0.5;
    } else {
      Die("usage: watch_bench [--runs N] [--rows N] [--quick]");
    }
  }
  const int port = testing::FreePort();
  std::fflush(stdout);  // droverd is forked from here
  Daemon d(R"(
[pools.idle]
workers = 1
queues = ["idle"]
[http]
auth = "token-file:http-token"
listen = "127.0.0.1:)" +
               std::to_string(port) + "\"\n",
           "log_level = \"warn\"\n");
  const std::string token = "watch-bench-token-0123456789";
  std::ofstream(d.dir() + "/http-token") << token << "\n";
  if (!d.Start()) Die("droverd did not start: " + d.Log());
  std::unique_ptr<JobStore> store = d.Store();
  if (!store) Die("cannot open the store");

  std::int64_t t0 = MonotonicUs();
  std::vector<EnqueueRequest> batch(10'000);
  for (int done = 0; done < rows; done += static_cast<int>(batch.size())) {
    for (size_t i = 0; i < batch.size(); ++i) {
      batch[i].type = (done + i) % 1000 == 0 ? "rare" : "resize";
      batch[i].queue = "bulk";
      batch[i].payload = "{\"image\": \"photo-" + std::to_string(done + i) + ".jpg\"}";
    }
    Check(store->EnqueueBatch(batch).status());
  }
  fmt::print("table: {} queued jobs, enqueued in {:.1f} s\n\n", rows, MsSince(t0) / 1000);

  // --- claim latency, scraped and not ---
  std::vector<double> p50[2], p99[2], scrape_ms;
  for (int run = 0; run < runs; ++run) {
    for (int scraped = 0; scraped < 2; ++scraped) {
      std::atomic<bool> stop{false};
      std::thread scraper;
      if (scraped) {
        scraper = std::thread([&] {
          while (!stop) {
            std::int64_t s0 = MonotonicUs();
            HttpReply r = HttpGet(port, "/metrics", token);
            if (r.status != 200) Die("/metrics answered " + std::to_string(r.status));
            scrape_ms.push_back(MsSince(s0));
            std::this_thread::sleep_for(std::chrono::milliseconds(100));
          }
        });
      }
      std::vector<double> ms = ClaimLoop(store.get(), phase_s);
      stop = true;
      if (scraper.joinable()) scraper.join();
      p50[scraped].push_back(Percentile(ms, 50));
      p99[scraped].push_back(Percentile(ms, 99));
    }
  }
  fmt::print("claim latency, one claim+finish transaction ({} runs x {:.1f} s each way, medians)\n", runs,
             phase_s);
  fmt::print("  {:<34} {:>9} {:>9}\n", "", "p50 ms", "p99 ms");
  fmt::print("  {:<34} {:>9.3f} {:>9.3f}\n", "no scraping (baseline)", Median(p50[0]), Median(p99[0]));
  fmt::print("  {:<34} {:>9.3f} {:>9.3f}\n", "/metrics scraped every 100 ms", Median(p50[1]), Median(p99[1]));
  fmt::print("  {:<34} {:>9.2f} {:>9.2f}\n", "ratio (scraped / baseline)", Median(p50[1]) / Median(p50[0]),
             Median(p99[1]) / Median(p99[0]));
  fmt::print(
      "  scrapes: {}, each p50 {:.2f} ms, p99 {:.2f} ms (the first waits for droverd's first reading)\n\n",
      scrape_ms.size(), Percentile(scrape_ms, 50), Percentile(scrape_ms, 99));

  // --- pages ---
  fmt::print("dashboard pages on {} rows, whole response ({} runs, median ms)\n", rows, runs);
  for (const char* target :
       {"/jobs", "/jobs?state=queued", "/jobs?queue=bulk", "/jobs?type=rare", "/jobs?state=failed",
        "/jobs?before=500000", "/jobs/1", "/", "/queues", "/metrics"}) {
    std::vector<double> ms;
    for (int run = 0; run < runs; ++run) {
      std::int64_t s0 = MonotonicUs();
      HttpReply r = HttpGet(port, target, token);
      ms.push_back(MsSince(s0));
      if (r.status != 200) Die(std::string(target) + " answered " + std::to_string(r.status));
    }
    fmt::print("  {:<24} {:>8.1f}\n", target, Median(ms));
  }
  if (d.Stop() != 0) Die("droverd did not stop cleanly: " + d.Log());
  return 0;
}
