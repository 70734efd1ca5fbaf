// Store micro-benchmark: the JobStore against raw SQLite doing the same SQL work with the same
// pragmas and batching, measured alternately in one invocation. Prints medians and ratios.
//
//   store_bench [--runs N] [--jobs N] [--quick]
#include <sqlite3.h>

#include <cstring>
#include <map>
#include <string>

#include "common/sqlite.h"
#include "common/time_util.h"
#include "jobs/store/job_store.h"
#include "tests/bench/bench_util.h"
#include "tests/temp_dir.h"

namespace drover::bench {
namespace {

const std::vector<std::string> kQueues{"default"};

StoreConfig BenchStoreOptions() {
  StoreConfig o;
  o.background_maintenance = true;
  o.busy_timeout_ms = 60'000;
  return o;
}

// The raw side: the same connection setup the store uses, then hand-written statements.
SqliteDb RawOpen(const std::string& path) {
  SqliteOptions o;
  o.wal_autocheckpoint = 10000;
  o.busy_timeout_ms = 60'000;
  Result<SqliteDb> db = SqliteDb::Open(path, o);
  if (!db.ok()) {
    std::fprintf(stderr, "%s\n", db.status().ToString().c_str());
    std::exit(1);
  }
  return std::move(db).value();
}

void Fill(const std::string& path, int jobs) {
  std::unique_ptr<JobStore> store = OpenStore(path, BenchStoreOptions());
  std::vector<EnqueueRequest> reqs(1000);
  for (auto& r : reqs) {
    r.type = "bench";
    r.payload = R"({"n":1})";
  }
  for (int done = 0; done < jobs; done += 1000) {
    Check(store->EnqueueBatch(std::span<const EnqueueRequest>(reqs.data(), std::min(1000, jobs - done)))
              .status());
  }
}

// --- enqueue ---

double EnqueueStore(const std::string& path, int jobs, int batch) {
  std::unique_ptr<JobStore> store = OpenStore(path, BenchStoreOptions());
  std::vector<EnqueueRequest> reqs(batch);
  for (auto& r : reqs) {
    r.type = "bench";
    r.payload = R"({"n":1})";
  }
  std::int64_t t0 = MonotonicUs();
  for (int done = 0; done < jobs; done += batch) {
    if (batch == 1) {
      Check(store->Enqueue(reqs[0]).status());
    } else {
      Check(store->EnqueueBatch(reqs).status());
    }
  }
  return jobs / ((MonotonicUs() - t0) / 1e6);
}

double EnqueueRaw(const std::string& path, int jobs, int batch) {
  { OpenStore(path, BenchStoreOptions()); }  // same schema and indexes
  SqliteDb db = RawOpen(path);
  std::int64_t t0 = MonotonicUs();
  for (int done = 0; done < jobs; done += batch) {
    Result<Transaction> tx = Transaction::Begin(&db);
    Check(tx.status());
    std::int64_t now = NowMs();
    for (int i = 0; i < batch; ++i) {
      Result<Statement> st = db.Prepare(
          "INSERT INTO jobs (type, queue, payload, priority, run_at, max_attempts, enqueued_at) "
          "VALUES (?1, ?2, ?3, 0, ?4, 5, ?4)");
      st->Bind(1, "bench").Bind(2, "default").Bind(3, R"({"n":1})").Bind(4, now);
      Check(st->Run());
    }
    Check(tx->Commit());
  }
  return jobs / ((MonotonicUs() - t0) / 1e6);
}

// --- claim + finish ---

int ClaimLoopStore(const std::string& path, const std::string& worker, int batch) {
  std::unique_ptr<JobStore> store = OpenStore(path, BenchStoreOptions());
  std::vector<Completion> done;
  std::vector<CompletionResult> results;
  while (true) {
    if (batch == 1) {
      // Unbatched: one transaction to claim, one to finish.
      Result<std::vector<ClaimedJob>> c = store->Claim(worker, kQueues, 1);
      Check(c.status());
      if (c->empty()) return 0;
      Completion d{(*c)[0].id, (*c)[0].attempt, Completion::Kind::kSucceeded, "{}", 0};
      Check(store->Complete(worker, std::span<const Completion>(&d, 1), &results));
      continue;
    }
    Result<std::vector<ClaimedJob>> c =
        store->CompleteAndClaim(worker, {.done = done}, &results, kQueues, batch, 0);
    Check(c.status());
    done.clear();
    if (c->empty()) return 0;
    for (const ClaimedJob& j : *c) done.push_back({j.id, j.attempt, Completion::Kind::kSucceeded, "{}", 0});
  }
}

int ClaimLoopRaw(const std::string& path, const std::string& worker, int batch) {
  SqliteDb db = RawOpen(path);
  const std::string claim =
      "UPDATE jobs SET state = 'running', worker = ?1, attempts = attempts + 1, started_at = ?2, "
      "lease_until = ?3 WHERE id IN (SELECT id FROM jobs WHERE state = 'queued' AND queue = ?5 "
      "AND run_at <= ?2 ORDER BY priority DESC, run_at, id LIMIT ?4) RETURNING id, attempts";
  const std::string finish =
      "UPDATE jobs SET state = 'succeeded', finished_at = ?4, result = ?5 "
      "WHERE id = ?1 AND state = 'running' AND worker = ?2 AND attempts = ?3";
  std::vector<std::pair<std::int64_t, std::int64_t>> held;
  auto finish_held = [&] {
    for (auto [id, attempt] : held) {
      Result<Statement> f = db.Prepare(finish);
      f->Bind(1, id).Bind(2, worker).Bind(3, attempt).Bind(4, NowMs()).Bind(5, "{}");
      Check(f->Run());
    }
    held.clear();
  };
  while (true) {
    if (batch == 1) {
      std::int64_t now = NowMs();
      {
        Result<Transaction> tx = Transaction::Begin(&db);
        Check(tx.status());
        Result<Statement> c = db.Prepare(claim);
        c->Bind(1, worker).Bind(2, now).Bind(3, now + 60'000).Bind(4, 1).Bind(5, "default");
        while (*c->Step()) held.emplace_back(c->Int64(0), c->Int64(1));
        c->Reset();
        Check(tx->Commit());
      }
      if (held.empty()) return 0;
      Result<Transaction> tx = Transaction::Begin(&db);
      finish_held();
      Check(tx->Commit());
      continue;
    }
    Result<Transaction> tx = Transaction::Begin(&db);
    Check(tx.status());
    finish_held();
    std::int64_t now = NowMs();
    Result<Statement> c = db.Prepare(claim);
    c->Bind(1, worker).Bind(2, now).Bind(3, now + 60'000).Bind(4, batch).Bind(5, "default");
    while (*c->Step()) held.emplace_back(c->Int64(0), c->Int64(1));
    c->Reset();
    Check(tx->Commit());
    if (held.empty()) return 0;
  }
}

double ClaimRun(bool raw, const std::string& path, int jobs, int procs, int batch) {
  Fill(path, jobs);
  std::int64_t t0 = MonotonicUs();
  bool ok = RunInProcesses(procs, [&](int i) {
    std::string worker = "bench:" + std::to_string(i);
    return raw ? ClaimLoopRaw(path, worker, batch) : ClaimLoopStore(path, worker, batch);
  });
  double secs = (MonotonicUs() - t0) / 1e6;
  if (!ok) {
    std::fprintf(stderr, "bench: a claim process failed\n");
    std::exit(1);
  }
  // Every job must have been processed exactly once.
  SqliteDb db = RawOpen(path);
  Result<Statement> st = db.Prepare("SELECT count(*) FROM jobs WHERE state = 'succeeded' AND attempts = 1");
  if (!*st->Step() || st->Int64(0) != jobs) {
    std::fprintf(stderr, "bench: expected %d succeeded jobs, got %lld\n", jobs,
                 static_cast<long long>(st->Int64(0)));
    std::exit(1);
  }
  return jobs / secs;
}

struct Case {
  std::string name;
  std::function<double(bool raw, const std::string& path)> run;
};

}  // namespace
}  // namespace drover::bench

int main(int argc, char** argv) {
  using namespace drover;
  using namespace drover::bench;
  int runs = 5;
  int jobs = 20'000;
  std::string only;
  for (int i = 1; i < argc; ++i) {
    if (!std::strcmp(argv[i], "--runs") && i + 1 < argc)
      runs = std::atoi(argv[++i]);
    else if (!std::strcmp(argv[i], "--jobs") && i + 1 < argc)
      jobs = std::atoi(argv[++i]);
    else if (!std::strcmp(argv[i], "--quick")) {
      runs = 1;
      jobs = 2000;
    } else if (!std::strcmp(argv[i], "--only") && i + 1 < argc)
      only = argv[++i];
    else {
      std::fprintf(stderr, "usage: store_bench [--runs N] [--jobs N] [--quick] [--only SUBSTRING]\n");
      return 2;
    }
  }
  std::vector<Case> cases;
  cases.push_back({"enqueue, 1 row/txn", [&](bool raw, const std::string& p) {
                     int n = jobs / 2;
                     return raw ? EnqueueRaw(p, n, 1) : EnqueueStore(p, n, 1);
                   }});
  cases.push_back({"enqueue, 100 rows/txn", [&](bool raw, const std::string& p) {
                     int n = jobs * 5;
                     return raw ? EnqueueRaw(p, n, 100) : EnqueueStore(p, n, 100);
                   }});
  for (int batch : {1, 10, 100}) {
    for (int procs : {1, 2, 4}) {
      std::string name = "claim+finish, " + std::to_string(procs) + " proc" + (procs > 1 ? "s" : "") +
                         (batch == 1 ? ", unbatched" : ", batch " + std::to_string(batch));
      cases.push_back({name, [=](bool raw, const std::string& p) {
                         return ClaimRun(raw, p, batch == 1 ? jobs / 2 : jobs, procs, batch);
                       }});
    }
  }
  std::printf("store_bench: %d runs each, medians; raw = hand-written SQL, same pragmas and batching\n",
              runs);
  std::printf("%-36s %14s %14s %8s\n", "case", "store ops/s", "raw ops/s", "ratio");
  for (const Case& c : cases) {
    if (c.name.find(only) == std::string::npos) continue;
    std::vector<double> store, raw;
    for (int r = 0; r < runs; ++r) {
      for (bool is_raw : {r % 2 == 1, r % 2 == 0}) {  // alternate which goes first
        TempDir dir;
        double v = c.run(is_raw, dir.path() + "/bench.db");
        (is_raw ? raw : store).push_back(v);
      }
    }
    double ms = Median(store), mr = Median(raw);
    std::printf("%-36s %14.0f %14.0f %7.0f%%\n", c.name.c_str(), ms, mr, 100.0 * ms / mr);
    std::fflush(stdout);
  }
  return 0;
}
