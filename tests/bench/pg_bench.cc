// The PostgreSQL store end to end, against a PostgreSQL 15 server of the benchmark's own (as the
// tests start it: unix socket, fsync off), each figure beside a baseline measured in the same run:
//  - no-op in-process jobs/s through droverd (1 and 2 workers) vs a raw libpq loop, 1 and 2
//    processes, each transaction finishing the previous batch and claiming 100 with SKIP LOCKED
//    (one round trip, pipelined);
//  - enqueue-to-start latency of an in-process job on an idle node (LISTEN/NOTIFY);
//  - kill -9 of a whole node running jobs until they run on the other node, against node_timeout.
//
//   pg_bench [--runs N] [--jobs N] [--quick]
#include <fmt/format.h>

#include <chrono>
#include <cstring>

#include "common/pg.h"
#include "tests/bench/bench_util.h"
#include "tests/integration/daemon.h"
#include "tests/pg/postgres_server.h"

namespace drover::bench {
namespace {

using testing::Daemon;
using testing::PostgresServer;
using testing::WaitFor;

void Die(const std::string& why) {
  std::fprintf(stderr, "pg_bench: %s\n", why.c_str());
  std::exit(1);
}

Pg Connect(const std::string& uri, const std::string& schema) {
  Result<Pg> pg = Pg::Connect(uri, "SET search_path = " + schema);
  if (!pg.ok()) Die(pg.status().ToString());
  return std::move(pg).value();
}

std::int64_t Count(Pg& pg, const std::string& where) {
  Result<PgResult> r = pg.Exec("SELECT count(*) FROM jobs WHERE " + where);
  if (!r.ok()) Die(r.status().ToString());
  return r->Int64(0, 0);
}

// True while jobs are queued or running (two probes of partial indexes).
bool Busy(Pg& pg) {
  Result<PgResult> r = pg.Exec(
      "SELECT EXISTS (SELECT 1 FROM jobs WHERE state = 'queued') OR EXISTS (SELECT 1 FROM jobs WHERE state = "
      "'running')");
  if (!r.ok()) Die(r.status().ToString());
  return r->Bool(0, 0);
}

void Fill(JobStore* store, const std::string& type, int n) {
  std::vector<EnqueueRequest> reqs(1000);
  for (auto& r : reqs) r.type = type;
  for (int done = 0; done < n; done += 1000) {
    Status s =
        store->EnqueueBatch(std::span<const EnqueueRequest>(reqs.data(), std::min(1000, n - done))).status();
    if (!s.ok()) Die(s.ToString());
  }
}

// Enqueues `n` jobs into a paused queue, resumes it and times the drain.
double Drain(Daemon& d, const std::string& uri, const std::string& schema, int n) {
  auto store = d.Store();
  if (!store) Die("open the store");
  if (!store->SetQueuePaused("default", true).ok()) Die("pause");
  Fill(store.get(), "noop", n);
  Pg poll = Connect(uri, schema);
  std::int64_t before = Count(poll, "state = 'succeeded'");
  std::int64_t t0 = MonotonicUs();
  if (!store->SetQueuePaused("default", false).ok()) Die("resume");
  if (!WaitFor([&] { return !Busy(poll); }, 600'000)) Die("jobs did not finish");
  double rate = n / ((MonotonicUs() - t0) / 1e6);
  if (std::int64_t ok = Count(poll, "state = 'succeeded'") - before; ok != n)
    Die(fmt::format("{} of {} jobs succeeded", ok, n));
  return rate;
}

// The raw loop in `procs` processes over `n` jobs in schema `schema`: jobs/s of all together.
double RawLoop(const std::string& uri, const std::string& schema, int n, int procs) {
  {
    Result<std::unique_ptr<JobStore>> s = OpenJobStore({.database = uri, .schema = schema});
    if (!s.ok()) Die(s.status().ToString());
    Fill(s->get(), "noop", n);
  }
  std::int64_t t0 = MonotonicUs();
  bool ok = RunInProcesses(procs, [&](int i) {
    Pg pg = Connect(uri, schema);
    const std::string worker = "raw" + std::to_string(i);
    std::vector<std::int64_t> held;
    while (true) {
      PgBatch b;
      b.Add("BEGIN");
      PgParams f;
      f.AddArray(held).Add(worker).Add(NowMs());
      b.Add(
          "UPDATE jobs SET state = 'succeeded', finished_at = $3, result = 'null' "
          "WHERE id = ANY($1::bigint[]) AND state = 'running' AND worker = $2",
          std::move(f));
      PgParams c;
      c.Add(worker).Add(NowMs());
      size_t claim = b.Add(
          "UPDATE jobs SET state = 'running', worker = $1, attempts = attempts + 1, started_at = $2, "
          "lease_until = $2::bigint + 60000 WHERE id IN (SELECT id FROM jobs WHERE state = 'queued' "
          "AND queue = 'default' AND run_at <= $2 ORDER BY priority DESC, run_at, id LIMIT 100 "
          "FOR UPDATE SKIP LOCKED) RETURNING id",
          std::move(c));
      b.Add("COMMIT");
      Result<std::vector<PgResult>> r = pg.Run(b);
      if (!r.ok()) {
        std::fprintf(stderr, "raw loop: %s\n", r.status().ToString().c_str());
        return 1;
      }
      held.clear();
      for (int k = 0; k < (*r)[claim].rows(); ++k) held.push_back((*r)[claim].Int64(k, 0));
      if (held.empty()) return 0;
    }
  });
  if (!ok) Die("raw loop failed");
  return n / ((MonotonicUs() - t0) / 1e6);
}

std::string NodeConfig(int workers) {
  return "[pools.default]\nworkers = " + std::to_string(workers) +
         "\nconcurrency = 128\nmax_jobs = 0\n[jobs.noop]\n[jobs.stamp]\n[jobs.sleep]\ncommand = "
         "[\"/bin/sleep\", \"30\"]\n";
}

std::string Supervisor(const std::string& node, const std::string& schema, const std::string& extra = "") {
  return "log_level = \"warn\"\nnode = \"" + node + "\"\nschema = \"" + schema + "\"\n" + extra;
}

}  // namespace
}  // namespace drover::bench

int main(int argc, char** argv) {
  using namespace drover;
  using namespace drover::bench;
  int runs = 5, jobs = 50'000, samples = 200;
  for (int i = 1; i < argc; ++i) {
    if (!std::strcmp(argv[i], "--runs") && i + 1 < argc) {
      runs = std::atoi(argv[++i]);
    } else if (!std::strcmp(argv[i], "--jobs") && i + 1 < argc) {
      jobs = std::atoi(argv[++i]);
    } else if (!std::strcmp(argv[i], "--quick")) {
      runs = 1;
      jobs = 2000;
      samples = 10;
    } else {
      std::fprintf(stderr, "usage: pg_bench [--runs N] [--jobs N] [--quick]\n");
      return 2;
    }
  }
  std::string error;
  std::unique_ptr<PostgresServer> server = PostgresServer::Start(&error);
  if (!server || !server->CreateDatabase("bench", &error)) Die("no PostgreSQL server: " + error);
  const std::string uri = server->Uri("bench");
  std::printf(
      "pg_bench: PostgreSQL 15 on a unix socket (fsync off); medians of %d runs, baselines in the same run\n",
      runs);
  std::fflush(stdout);  // the daemons are forked from here
  for (int workers : {1, 2}) {
    std::vector<double> ours, raw;
    const std::string schema = "ours" + std::to_string(workers);
    Daemon d(NodeConfig(workers), Supervisor("bench", schema), BENCH_DROVERD_PATH, uri);
    if (!d.Start()) Die("droverd did not start: " + d.Log());
    for (int r = 0; r < runs; ++r) {
      ours.push_back(Drain(d, uri, schema, jobs));
      raw.push_back(RawLoop(uri, "raw" + std::to_string(workers), jobs, workers));
    }
    d.Stop();
    std::printf(
        "no-op in-process jobs/s, %d worker(s): %8.0f   raw libpq finish+claim 100, %d process(es): %8.0f   "
        "%4.0f%% (target >= 70%%)\n",
        workers, Median(ours), workers, Median(raw), 100 * Median(ours) / Median(raw));
    std::fflush(stdout);
  }
  {
    Daemon d(NodeConfig(1), Supervisor("bench", "latency"), BENCH_DROVERD_PATH, uri);
    if (!d.Start()) Die("droverd did not start: " + d.Log());
    auto store = d.Store();
    std::vector<double> lat;
    for (int i = 0; i < samples; ++i) {
      EnqueueRequest r;
      r.type = "stamp";
      std::int64_t t0 = MonotonicUs();
      Result<EnqueueResult> e = store->Enqueue(r);
      if (!e.ok()) Die(e.status().ToString());
      if (!WaitFor([&] { return store->Get(e->id)->state == JobState::kSucceeded; }, 10'000))
        Die("latency job");
      lat.push_back((std::stoll(*store->Get(e->id)->result) - t0) / 1000.0);
      usleep(20'000);
    }
    d.Stop();
    std::printf(
        "enqueue->start latency, in-process (NOTIFY): p50 %.3f ms  p99 %.3f ms (target p50 <= 2 ms)\n",
        Median(lat), Percentile(lat, 99));
    std::fflush(stdout);
  }
  {
    // Node n1 (the leader: it starts first) runs jobs and dies whole; n2 must run them within
    // node_timeout (+ 1 s).
    constexpr int kTimeoutMs = 3000;
    const std::string extra = "node_timeout = \"3s\"\n";
    std::vector<double> took;
    for (int r = 0; r < std::max(3, runs); ++r) {
      Daemon n1(NodeConfig(1), Supervisor("n1", "rescue", extra), BENCH_DROVERD_PATH, uri);
      if (!n1.Start()) Die("droverd did not start: " + n1.Log());
      auto store = n1.Store();
      std::vector<std::int64_t> ids;
      for (int i = 0; i < 8; ++i) {
        EnqueueRequest q;
        q.type = "sleep";
        ids.push_back(store->Enqueue(q)->id);
      }
      auto all_on = [&](const std::string& node) {
        for (std::int64_t id : ids) {
          Job j = *store->Get(id);
          if (j.state != JobState::kRunning || !j.pid || j.worker->rfind(node + "/", 0) != 0) return false;
        }
        return true;
      };
      if (!WaitFor([&] { return all_on("n1"); }, 10'000)) Die("the jobs did not start on n1");
      Daemon n2(NodeConfig(1), Supervisor("n2", "rescue", extra), BENCH_DROVERD_PATH, uri);
      if (!n2.Start()) Die("droverd did not start: " + n2.Log());
      n1.KillAll();
      std::int64_t t0 = MonotonicUs();
      if (!WaitFor([&] { return all_on("n2"); }, 30'000)) Die("n1's jobs did not move to n2");
      took.push_back((MonotonicUs() - t0) / 1000.0);
      JobSelector running;
      if (!store->ApplyBulk(BulkAction::kCancel, running, 0, 1000).ok()) Die("cancel");
      if (!WaitFor([&] { return store->Stats()->front().counts[1] == 0; }, 30'000)) Die("cancel did not end");
      n2.Stop();
    }
    std::printf(
        "kill -9 of a node -> its jobs running on another: median %.0f ms, max %.0f ms "
        "(node_timeout %d ms; target <= node_timeout + 1000 ms)\n",
        Median(took), *std::max_element(took.begin(), took.end()), kTimeoutMs);
  }
  return 0;
}
