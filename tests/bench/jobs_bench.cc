// End-to-end job benchmark against a real droverd, each figure beside a baseline measured in
// the same run:
//  - no-op in-process jobs/s (1 and 2 workers) vs a raw SQLite claim+finish loop (batch 100),
//    and with a running limit that never binds vs none;
//  - /bin/true command jobs/s vs a raw posix_spawn+waitpid loop with the same parallelism;
//  - enqueue-to-start latency on an idle system (in-process and command) vs a worker woken
//    through a pipe and vs posix_spawn of the same command straight to its main().
//
//   jobs_bench [--runs N] [--jobs N] [--quick] [--only in-process|limit|synchronous|command|latency]
#include <fmt/format.h>
#include <spawn.h>

#include <cstring>

#include "common/sqlite.h"
#include "tests/bench/bench_util.h"
#include "tests/integration/daemon.h"

extern char** environ;

namespace drover::bench {
namespace {

using testing::Daemon;
using testing::WaitFor;

void Die(const std::string& why) {
  std::fprintf(stderr, "jobs_bench: %s\n", why.c_str());
  std::exit(1);
}

std::int64_t CountState(const std::string& db, const char* state) {
  SqliteOptions o;
  Result<SqliteDb> c = SqliteDb::Open(db, o);
  if (!c.ok()) Die(c.status().ToString());
  Result<Statement> st = c->Prepare("SELECT count(*) FROM jobs WHERE state = ?1");
  st->Bind(1, state);
  if (!*st->Step()) return 0;
  return st->Int64(0);
}

// True while jobs are queued or running: two probes of partial indexes, so polling costs the
// drain being timed next to nothing (a count of finished jobs grows with every job).
bool Busy(SqliteDb& db) {
  Result<Statement> st = db.Prepare(
      "SELECT EXISTS (SELECT 1 FROM jobs WHERE state = 'queued') "
      "OR EXISTS (SELECT 1 FROM jobs WHERE state = 'running')");
  if (!st.ok() || !*st->Step()) Die("poll: " + st.status().ToString());
  bool busy = st->Int64(0) != 0;
  st->Reset();
  return busy;
}

// Enqueues `n` jobs of `type` into a paused queue, resumes it and times the drain. The queue
// holds nothing else, so the drain ends when nothing is queued or running.
double Drain(Daemon& d, const std::string& type, int n) {
  auto store = d.Store();
  if (!store->SetQueuePaused("default", true).ok()) Die("pause");
  std::vector<EnqueueRequest> reqs(1000);
  for (auto& r : reqs) r.type = type;
  for (int done = 0; done < n; done += 1000) {
    if (!store->EnqueueBatch(std::span<const EnqueueRequest>(reqs.data(), std::min(1000, n - done))).ok())
      Die("enqueue");
  }
  std::int64_t before = CountState(d.db(), "succeeded");
  Result<SqliteDb> poll = SqliteDb::Open(d.db(), SqliteOptions{});
  if (!poll.ok()) Die(poll.status().ToString());
  std::int64_t t0 = MonotonicUs();
  if (!store->SetQueuePaused("default", false).ok()) Die("resume");
  if (!WaitFor([&] { return !Busy(*poll); }, 600'000)) Die("jobs did not finish");
  double rate = n / ((MonotonicUs() - t0) / 1e6);
  if (std::int64_t ok = CountState(d.db(), "succeeded") - before; ok != n)
    Die(fmt::format("{} of {} jobs succeeded", ok, n));
  return rate;
}

// Raw SQLite: claim 100 / finish grouped with the next claim, one process, same schema. `path`
// is kept across runs, as the daemon's database is: both grow by `n` finished jobs per run.
double RawClaimLoop(const std::string& path, int n) {
  {
    Result<std::unique_ptr<JobStore>> s = OpenJobStore({.database = path});
    std::vector<EnqueueRequest> reqs(1000);
    for (auto& r : reqs) r.type = "noop";
    for (int done = 0; done < n; done += 1000) {
      if (!(*s)->EnqueueBatch(std::span<const EnqueueRequest>(reqs.data(), std::min(1000, n - done))).ok())
        Die("fill");
    }
  }
  SqliteOptions o;
  o.wal_autocheckpoint = 10000;
  SqliteDb db = std::move(SqliteDb::Open(path, o)).value();
  std::vector<std::pair<std::int64_t, std::int64_t>> held;
  std::int64_t t0 = MonotonicUs();
  while (true) {
    Result<Transaction> tx = Transaction::Begin(&db);
    for (auto [id, attempt] : held) {
      Result<Statement> f = db.Prepare(
          "UPDATE jobs SET state = 'succeeded', finished_at = ?3, result = 'null' "
          "WHERE id = ?1 AND state = 'running' AND worker = 'raw' AND attempts = ?2");
      f->Bind(1, id).Bind(2, attempt).Bind(3, NowMs());
      if (!f->Run().ok()) Die("raw finish");
    }
    held.clear();
    std::int64_t now = NowMs();
    Result<Statement> c = db.Prepare(
        "UPDATE jobs SET state = 'running', worker = 'raw', attempts = attempts + 1, started_at = ?1, "
        "lease_until = ?2 WHERE id IN (SELECT id FROM jobs WHERE state = 'queued' AND queue = 'default' "
        "AND run_at <= ?1 ORDER BY priority DESC, run_at, id LIMIT 100) RETURNING id, attempts");
    c->Bind(1, now).Bind(2, now + 60'000);
    while (*c->Step()) held.emplace_back(c->Int64(0), c->Int64(1));
    c->Reset();
    if (!tx->Commit().ok()) Die("raw commit");
    if (held.empty()) break;
  }
  return n / ((MonotonicUs() - t0) / 1e6);
}

// posix_spawn + waitpid of /bin/true, `parallel` at a time.
double RawSpawnLoop(int n, int parallel) {
  char* argv[] = {const_cast<char*>("/bin/true"), nullptr};
  std::int64_t t0 = MonotonicUs();
  int running = 0, started = 0;
  while (started < n || running > 0) {
    while (running < parallel && started < n) {
      pid_t pid;
      if (posix_spawn(&pid, "/bin/true", nullptr, nullptr, argv, environ) != 0) Die("posix_spawn");
      ++running;
      ++started;
    }
    waitpid(-1, nullptr, 0);
    --running;
  }
  return n / ((MonotonicUs() - t0) / 1e6);
}

std::vector<double> Latency(Daemon& d, const std::string& type, int samples) {
  auto store = d.Store();
  std::vector<double> out;
  for (int i = 0; i < samples; ++i) {
    EnqueueRequest r;
    r.type = type;
    std::int64_t t0 = MonotonicUs();
    Result<EnqueueResult> e = store->Enqueue(r);
    if (!e.ok()) Die("enqueue");
    if (!WaitFor([&] { return store->Get(e->id)->state == JobState::kSucceeded; }, 10'000))
      Die("latency job");
    std::int64_t started = std::stoll(*store->Get(e->id)->result);
    out.push_back((started - t0) / 1000.0);
    usleep(20'000);
  }
  return out;
}

std::vector<double> PipeLatency(int samples) {
  int p[2];
  int back[2];
  if (pipe(p) != 0 || pipe(back) != 0) Die("pipe");
  pid_t child = fork();
  if (child == 0) {
    close(p[1]);
    close(back[0]);
    std::int64_t t0;
    while (read(p[0], &t0, sizeof t0) == sizeof t0) {
      std::int64_t d = MonotonicUs() - t0;
      (void)!write(back[1], &d, sizeof d);
    }
    _exit(0);
  }
  close(p[0]);
  close(back[1]);
  std::vector<double> out;
  for (int i = 0; i < samples; ++i) {
    std::int64_t t0 = MonotonicUs(), d;
    (void)!write(p[1], &t0, sizeof t0);
    (void)!read(back[0], &d, sizeof d);
    out.push_back(d / 1000.0);
    usleep(20'000);
  }
  close(p[1]);
  close(back[0]);
  waitpid(child, nullptr, 0);
  return out;
}

// posix_spawn of the stamp binary straight from this process: spawn -> its main().
std::vector<double> SpawnLatency(int samples) {
  std::vector<double> out;
  char* argv[] = {const_cast<char*>(BENCH_STAMP_PATH), nullptr};
  for (int i = 0; i < samples; ++i) {
    int p[2];
    if (pipe(p) != 0) Die("pipe");
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_adddup2(&fa, p[1], 1);
    std::int64_t t0 = MonotonicUs();
    pid_t pid;
    if (posix_spawn(&pid, BENCH_STAMP_PATH, &fa, nullptr, argv, environ) != 0) Die("posix_spawn");
    posix_spawn_file_actions_destroy(&fa);
    close(p[1]);
    char buf[64] = {};
    (void)!read(p[0], buf, sizeof buf - 1);
    close(p[0]);
    waitpid(pid, nullptr, 0);
    out.push_back((std::atoll(buf) - t0) / 1000.0);
    usleep(20'000);
  }
  return out;
}

// `noop_extra`: keys of [jobs.noop].
std::string ConfigText(int workers, int concurrency, const std::string& noop_extra = "") {
  return "[pools.default]\nworkers = " + std::to_string(workers) +
         "\nconcurrency = " + std::to_string(concurrency) + "\nmax_jobs = 0\n[jobs.noop]\n" + noop_extra +
         "[jobs.stamp]\n[jobs.true]\ncommand = [\"/bin/true\"]\n"
         "[jobs.cmdstamp]\ncommand = [\"" BENCH_STAMP_PATH "\"]\n";
}

}  // namespace
}  // namespace drover::bench

int main(int argc, char** argv) {
  using namespace drover;
  using namespace drover::bench;
  int runs = 5, jobs = 50'000, samples = 200;
  std::string only;
  for (int i = 1; i < argc; ++i) {
    if (!std::strcmp(argv[i], "--runs") && i + 1 < argc)
      runs = std::atoi(argv[++i]);
    else if (!std::strcmp(argv[i], "--jobs") && i + 1 < argc)
      jobs = std::atoi(argv[++i]);
    else if (!std::strcmp(argv[i], "--only") && i + 1 < argc &&
             std::strstr("|in-process|limit|synchronous|command|latency|",
                         ("|" + std::string(argv[i + 1]) + "|").c_str()))
      only = argv[++i];
    else if (!std::strcmp(argv[i], "--quick")) {
      runs = 1;
      jobs = 2000;
      samples = 10;
    } else {
      std::fprintf(stderr,
                   "usage: jobs_bench [--runs N] [--jobs N] [--quick] "
                   "[--only in-process|limit|synchronous|command|latency]\n");
      return 2;
    }
  }
  const std::string supervisor = "log_level = \"warn\"\n";
  std::printf("jobs_bench: medians of %d runs; baselines measured in the same run\n", runs);
  std::fflush(stdout);  // the daemons are forked from here
  auto want = [&](const char* part) { return only.empty() || only == part; };
  for (int workers : {1, 2}) {
    if (!want("in-process")) break;
    std::vector<double> ours, raw;
    TempDir raw_dir;
    Daemon d(ConfigText(workers, 128), supervisor, BENCH_DROVERD_PATH);
    if (!d.Start()) Die("droverd did not start: " + d.Log());
    for (int r = 0; r < runs; ++r) {
      ours.push_back(Drain(d, "noop", jobs));
      raw.push_back(RawClaimLoop(raw_dir.path() + "/raw.db", jobs));
    }
    d.Stop();
    std::printf(
        "no-op in-process jobs/s, %d worker(s): %9.0f   raw SQLite claim+finish (batch 100): %9.0f   "
        "%5.0f%%\n",
        workers, Median(ours), Median(raw), 100 * Median(ours) / Median(raw));
    std::fflush(stdout);
  }
  if (want("limit")) {
    // A running limit that never binds (far above the concurrency) still makes every claim count
    // what runs: what that costs the fastest jobs.
    std::vector<double> limited, plain;
    Daemon dp(ConfigText(1, 128), supervisor, BENCH_DROVERD_PATH);
    Daemon dl(ConfigText(1, 128, "max_running = 1000000\n"), supervisor, BENCH_DROVERD_PATH);
    if (!dp.Start() || !dl.Start()) Die("droverd did not start: " + dp.Log() + dl.Log());
    for (int r = 0; r < runs; ++r) {
      plain.push_back(Drain(dp, "noop", jobs / 5));
      limited.push_back(Drain(dl, "noop", jobs / 5));
    }
    dp.Stop();
    dl.Stop();
    std::printf(
        "no-op in-process jobs/s, 1 worker, max_running = 1000000: %9.0f   no limit: %9.0f   %5.0f%% "
        "(target >= 90%%)\n",
        Median(limited), Median(plain), 100 * Median(limited) / Median(plain));
    std::fflush(stdout);
  }
  if (want("synchronous")) {
    // What durability across an OS crash costs: every commit synced (synchronous = "full").
    std::vector<double> normal, full;
    Daemon dn(ConfigText(1, 128), supervisor, BENCH_DROVERD_PATH);
    Daemon df(ConfigText(1, 128), supervisor + "synchronous = \"full\"\n", BENCH_DROVERD_PATH);
    if (!dn.Start() || !df.Start()) Die("droverd did not start: " + dn.Log() + df.Log());
    for (int r = 0; r < runs; ++r) {
      normal.push_back(Drain(dn, "noop", jobs / 5));
      full.push_back(Drain(df, "noop", jobs / 5));
    }
    dn.Stop();
    df.Stop();
    std::printf(
        "no-op in-process jobs/s, 1 worker, synchronous = \"full\": %9.0f   \"normal\": %9.0f   %5.0f%%\n",
        Median(full), Median(normal), 100 * Median(full) / Median(normal));
    std::fflush(stdout);
  }
  if (want("command")) {
    int n = std::max(200, jobs / 25);
    std::vector<double> ours, raw;
    // droverd itself, as command jobs are run: a program that registers in-process handlers
    // (bench_droverd) does not claim ahead.
    Daemon d(
        "[pools.default]\nworkers = 1\nconcurrency = 4\nmax_jobs = 0\n[jobs.true]\ncommand = "
        "[\"/bin/true\"]\n",
        supervisor);
    if (!d.Start()) Die("droverd did not start: " + d.Log());
    for (int r = 0; r < runs; ++r) {
      ours.push_back(Drain(d, "true", n));
      raw.push_back(RawSpawnLoop(n, 4));
    }
    d.Stop();
    std::printf(
        "/bin/true command jobs/s (1 worker, concurrency 4): %7.0f   raw posix_spawn+waitpid x4: %7.0f   "
        "%5.0f%%\n",
        Median(ours), Median(raw), 100 * Median(ours) / Median(raw));
    std::fflush(stdout);
  }
  if (want("latency")) {
    Daemon d(ConfigText(1, 4), supervisor, BENCH_DROVERD_PATH);
    if (!d.Start()) Die("droverd did not start: " + d.Log());
    std::vector<double> in = Latency(d, "stamp", samples);
    std::vector<double> cmd = Latency(d, "cmdstamp", samples);
    d.Stop();
    std::vector<double> pipe = PipeLatency(samples);
    std::vector<double> spawn = SpawnLatency(samples);
    std::printf("enqueue->start latency, in-process: p50 %.3f ms  p99 %.3f ms\n", Median(in),
                Percentile(in, 99));
    std::printf("enqueue->start latency, command:    p50 %.3f ms  p99 %.3f ms\n", Median(cmd),
                Percentile(cmd, 99));
    std::printf("baseline: pipe-notified raw worker: p50 %.3f ms  p99 %.3f ms\n", Median(pipe),
                Percentile(pipe, 99));
    std::printf(
        "baseline: posix_spawn -> main():    p50 %.3f ms  p99 %.3f ms  (the stamp binary, from here)\n",
        Median(spawn), Percentile(spawn, 99));
  }
  return 0;
}
