// Chaos under load: thousands of jobs enqueued by several processes while workers, the
// scheduler and the supervisor itself are killed with SIGKILL at random, the config is
// reloaded and droverctl pauses, retries and cancels. Afterwards every accepted job must be in
// a final state, no job may have run twice at the same time, every success must match an
// attempt that really finished, and no process may be left behind.
//
// DROVER_CHAOS_SEED=N replays a run; DROVER_CHAOS_SECONDS=N makes it longer (soak mode).
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/stat.h>

#include <atomic>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <random>
#include <set>
#include <sstream>
#include <thread>

#include "tests/integration/ctl.h"
#include "tests/integration/daemon.h"

namespace drover::testing {
namespace {

// A process's start time (field 22 of /proc/PID/stat), "" when it is gone: with its pid, it names
// one process even after the pid is reused.
std::string StartTime(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
  std::string stat;
  if (!std::getline(in, stat)) return "";
  std::istringstream fields(stat.substr(stat.rfind(')') + 2));  // after "pid (comm) "
  std::string f;
  for (int i = 3; i <= 22 && fields >> f; ++i) {
  }
  return f;
}

// The pids of `supervisor`'s worker processes, from /proc (no request to droverd).
std::vector<pid_t> WorkerPids(pid_t supervisor) {
  std::string self = std::to_string(supervisor);
  std::ifstream children("/proc/" + self + "/task/" + self + "/children");
  std::vector<pid_t> out;
  for (pid_t child; children >> child;) {
    std::ifstream cmdline("/proc/" + std::to_string(child) + "/cmdline");
    std::string title;
    std::getline(cmdline, title, '\0');
    if (title.rfind("drover: worker", 0) == 0) out.push_back(child);
  }
  return out;
}

struct Counts {
  int worker_kills = 0, scheduler_kills = 0, supervisor_kills = 0, reloads = 0, pauses = 0, retries = 0,
      cancels = 0;
};

std::string Config(const std::string& dir) {
  std::string job =
      std::string("command = [\"") + CHAOS_JOB_PATH + "\", \"" + dir + "/runs.log\", \"" + dir +
      "/locks\"]\n" +
      "max_attempts = 20\nretry_delay = \"50ms\"\nretry_delay_max = \"200ms\"\nkill_after = \"200ms\"\n";
  return "[scheduler]\ntick = \"200ms\"\n"
         "[pools.a]\nworkers = 2\nqueues = [\"a\"]\nconcurrency = 3\n"
         "[pools.b]\nworkers = 2\nqueues = [\"b\"]\nconcurrency = 2\n"
         "[jobs.rec]\nqueue = \"a\"\n" +
         job + "[jobs.recb]\nqueue = \"b\"\n" + job +
         "[jobs.sleep]\nqueue = \"b\"\nmax_attempts = 20\nretry_delay = \"50ms\"\nretry_delay_max = "
         "\"200ms\"\n";
}

// One enqueuing process: `n` jobs in batches of 1-20, ids appended to `out`.
int Enqueuer(const std::string& db, const std::string& out, int n, unsigned seed) {
  std::mt19937 rng(seed);
  Result<std::unique_ptr<JobStore>> store = OpenJobStore({.database = db});
  if (!store.ok()) return 1;
  std::ofstream ids(out);
  for (int done = 0; done < n;) {
    std::vector<EnqueueRequest> batch(std::min<int>(n - done, 1 + static_cast<int>(rng() % 20)));
    for (EnqueueRequest& r : batch) {
      unsigned kind = rng() % 100;
      r.type = kind < 60 ? "rec" : kind < 85 ? "recb" : "sleep";
      r.queue = r.type == "rec" ? "a" : "b";
      r.max_attempts = 20;
      r.payload = nlohmann::json{{"ms", rng() % 40}, {"fail", rng() % 10 == 0 ? 1 : 0}}.dump();
    }
    Result<std::vector<EnqueueResult>> e = (*store)->EnqueueBatch(batch);
    if (!e.ok()) {
      fprintf(stderr, "enqueue: %s\n", e.status().ToString().c_str());
      return 1;
    }
    for (const EnqueueResult& r : *e) ids << r.id << "\n";
    ids.flush();
    done += static_cast<int>(batch.size());
    usleep(static_cast<useconds_t>(rng() % 20'000));
  }
  return 0;
}

bool Drained(JobStore* store) {
  Result<std::vector<QueueStats>> stats = store->Stats();
  if (!stats.ok()) return false;
  for (const QueueStats& q : *stats) {
    if (q.counts[static_cast<int>(JobState::kQueued)] + q.counts[static_cast<int>(JobState::kRunning)] > 0)
      return false;
  }
  return true;
}

TEST(ChaosTest, NothingLostNothingRunTwiceAtOnce) {
  const char* seed_env = getenv("DROVER_CHAOS_SEED");
  const char* seconds_env = getenv("DROVER_CHAOS_SECONDS");
  const unsigned seed = seed_env ? static_cast<unsigned>(std::stoul(seed_env)) : std::random_device{}();
#ifdef DROVER_SANITIZED
  const int default_seconds = 6, default_jobs = 150;  // sanitized processes run several times slower
#else
  const int default_seconds = 12, default_jobs = 700;
#endif
  const int seconds = seconds_env ? std::stoi(seconds_env) : default_seconds;
  const int per_enqueuer =
      seconds_env ? 30 * seconds : default_jobs;  // ~90 jobs/s: what the pools drain under chaos
  std::printf("chaos seed %u, %d s (replay with DROVER_CHAOS_SEED=%u)\n", seed, seconds, seed);
  std::fflush(stdout);
  std::mt19937 rng(seed);

  Daemon d("",
           "restart_delay = \"50ms\"\nrestart_delay_max = \"200ms\"\nstartsecs = \"100ms\"\n"
           "shutdown_timeout = \"1s\"\nlease = \"2s\"\nlog_level = \"info\"\n",
           EMBEDDED_PATH);
  mkdir((d.dir() + "/locks").c_str(), 0755);
  {
    std::ifstream in(d.config());
    std::stringstream head;
    head << in.rdbuf();
    d.RewriteConfig(head.str() + Config(d.dir()));
  }
  ASSERT_TRUE(d.Start()) << d.Log();
  // Each droverd child with its start time: over a long soak pids wrap, so a pid alive at the end
  // may be another process's.
  std::set<std::pair<pid_t, std::string>> seen_children;
  const std::int64_t t0 = MonotonicUs();

  std::vector<pid_t> enqueuers;
  for (int i = 0; i < 3; ++i) {
    unsigned s = static_cast<unsigned>(rng());
    pid_t p = fork();
    if (p == 0) _exit(Enqueuer(d.db(), d.dir() + "/accepted." + std::to_string(i), per_enqueuer, s));
    enqueuers.push_back(p);
  }

  // Dense kills: a worker every 30-100 ms, whatever it is doing, so that some die between a
  // job's spawn and its report to the supervisor.
  std::atomic<pid_t> supervisor{d.pid()};
  std::atomic<bool> chaos_over{false}, restarting{false};
  std::atomic<int> dense_kills{0};
  std::thread killer([&, kseed = static_cast<unsigned>(rng())] {
    std::mt19937 krng(kseed);
    while (!chaos_over) {
      usleep(static_cast<useconds_t>(30'000 + krng() % 70'000));
      if (restarting) continue;  // Start() waits for every process to be RUNNING at once
      std::vector<pid_t> ws = WorkerPids(supervisor);
      if (!ws.empty() && kill(ws[krng() % ws.size()], SIGKILL) == 0) ++dense_kills;
    }
  });
  Counts c;
  auto ctl = [&](const std::string& args) { return Ctl(d, args).code; };
  std::unique_ptr<JobStore> store = d.Store();
  while (MonotonicUs() - t0 < seconds * 1'000'000LL) {
    usleep(static_cast<useconds_t>(50'000 + rng() % 250'000));
    nlohmann::json status = d.Request("status");
    std::vector<pid_t> workers;
    if (status["ok"] == true) {
      for (const auto& p : status["result"]) {
        if (!p["pid"].is_number()) continue;
        seen_children.emplace(p["pid"].get<pid_t>(), StartTime(p["pid"].get<pid_t>()));
        if (p["name"] != "scheduler") workers.push_back(p["pid"].get<pid_t>());
      }
    }
    unsigned action = rng() % 100;
    if (action < 35) {
      if (!workers.empty() && kill(workers[rng() % workers.size()], SIGKILL) == 0) ++c.worker_kills;
    } else if (action < 45) {
      pid_t s = d.PidOf("scheduler");
      if (s > 0 && kill(s, SIGKILL) == 0) ++c.scheduler_kills;
    } else if (action < 53) {
      restarting = true;
      d.Kill();
      ++c.supervisor_kills;
      bool restarted = d.Start();
      supervisor = d.pid();
      restarting = false;
      if (!restarted) {
        chaos_over = true;
        killer.join();
        FAIL() << "restart after kill -9 of the supervisor failed\n" << d.Log();
      }
    } else if (action < 63) {
      kill(d.pid(), SIGHUP);
      ++c.reloads;
    } else if (action < 73) {
      ctl(rng() % 2 ? "pause b" : "resume b");
      ++c.pauses;
    } else if (action < 80) {
      ctl("retry --failed");
      ++c.retries;
    } else if (action < 90) {
      JobFilter f;
      f.limit = 1;
      Result<std::vector<Job>> newest = store->List(f);
      if (newest.ok() && !newest->empty()) {
        ctl("cancel " + std::to_string(1 + rng() % newest->front().id));
        ++c.cancels;
      }
    }
  }
  chaos_over = true;
  killer.join();
  c.worker_kills += dense_kills;
  for (pid_t p : enqueuers) {
    int st = 0;
    waitpid(p, &st, 0);
    ASSERT_TRUE(WIFEXITED(st) && WEXITSTATUS(st) == 0) << "an enqueuer failed";
  }
  ASSERT_EQ(ctl("resume b"), 0);
  if (!Alive(d.pid())) {
    ASSERT_TRUE(d.Start());
  }
  ASSERT_TRUE(WaitFor([&] { return Drained(store.get()); }, 180'000)) << "jobs did not drain\n" << d.Log();
  nlohmann::json status = d.Request("status");
  for (const auto& p : status["result"]) {
    if (p["pid"].is_number()) seen_children.emplace(p["pid"].get<pid_t>(), StartTime(p["pid"].get<pid_t>()));
  }
  EXPECT_EQ(WEXITSTATUS(d.Stop()), 0);
  const double elapsed_s = (MonotonicUs() - t0) / 1e6;

  // Every accepted job is there and final.
  std::set<std::int64_t> accepted;
  for (int i = 0; i < 3; ++i) {
    std::ifstream in(d.dir() + "/accepted." + std::to_string(i));
    for (std::int64_t id; in >> id;) accepted.insert(id);
  }
  ASSERT_EQ(accepted.size(), static_cast<size_t>(3 * per_enqueuer));
  std::map<JobState, int> by_state;
  std::map<std::int64_t, Job> jobs;
  for (std::int64_t id : accepted) {
    Result<Job> j = store->Get(id);
    ASSERT_TRUE(j.ok()) << "accepted job " << id << " vanished";
    EXPECT_TRUE(IsFinal(j->state)) << "job " << id << " is " << JobStateName(j->state);
    EXPECT_LE(j->attempts, j->max_attempts) << "job " << id;
    ++by_state[j->state];
    jobs.emplace(id, *j);
  }

  // What the command jobs recorded: no overlap, and every success matches a finished attempt.
  std::ifstream runs(d.dir() + "/runs.log");
  std::set<std::pair<std::int64_t, int>> finished;
  std::set<pid_t> job_pids;
  int starts = 0, overlaps = 0;
  for (std::string kind; runs >> kind;) {
    std::int64_t id;
    int attempt;
    pid_t pid;
    runs >> id >> attempt >> pid;
    job_pids.insert(pid);
    if (kind == "overlap") {
      ++overlaps;
      ADD_FAILURE() << "job " << id << " attempt " << attempt << " (pid " << pid
                    << ") started while another copy ran";
    }
    if (kind == "start") ++starts;
    if (kind == "end") finished.emplace(id, attempt);
  }
  for (const auto& [id, j] : jobs) {
    if (j.state != JobState::kSucceeded) continue;
    ASSERT_TRUE(j.result.has_value()) << "job " << id;
    nlohmann::json r = nlohmann::json::parse(*j.result, nullptr, false);
    if (j.type == "sleep") {
      EXPECT_TRUE(r.contains("slept_ms")) << "job " << id << ": " << *j.result;
    } else {
      ASSERT_TRUE(r.contains("attempt")) << "job " << id << ": " << *j.result;
      EXPECT_TRUE(finished.count({id, r["attempt"].get<int>()}))
          << "job " << id << " succeeded without a finished run";
    }
  }

  // Nothing left running: no job process, no child of any supervisor.
  // A job of this run is this build's chaos_job writing to this run's log: not another program,
  // or a chaos job of another suite running beside this one, that got the pid since (pids wrap).
  const std::string ours = std::string(CHAOS_JOB_PATH) + '\0' + d.dir() + "/runs.log" + '\0';
  for (pid_t p : job_pids) {
    std::ifstream cmd("/proc/" + std::to_string(p) + "/cmdline");
    std::string line;
    std::getline(cmd, line);
    EXPECT_FALSE(Alive(p) && line.rfind(ours, 0) == 0) << "job process " << p << " survived";
  }
  for (const auto& [p, started] : seen_children) {
    EXPECT_FALSE(Alive(p) && StartTime(p) == started) << "droverd child " << p << " survived";
  }

  std::printf(
      "chaos: %zu jobs (%d succeeded, %d failed, %d cancelled) in %.1f s; %d command runs started; "
      "kill -9: %d workers, %d schedulers, %d supervisors; %d reloads, %d pause/resume, %d retry, %d cancel; "
      "overlapping runs: %d\n",
      accepted.size(), by_state[JobState::kSucceeded], by_state[JobState::kFailed],
      by_state[JobState::kCancelled], elapsed_s, starts, c.worker_kills, c.scheduler_kills,
      c.supervisor_kills, c.reloads, c.pauses, c.retries, c.cancels, overlaps);
}

}  // namespace
}  // namespace drover::testing
