// Black-box tests of the supervisor: the real droverd binary, real children, kill -9.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/file.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>

#include <filesystem>

#include "tests/integration/ctl.h"
#include "tests/integration/daemon.h"

namespace drover::testing {
namespace {

const char* kPools = R"(
[pools.default]
workers = 2
concurrency = 2

[jobs.sleepy]
command = ["/bin/sh", "-c", "sleep ${SLEEP:-1}; echo done"]
)";

JobState StateOf(JobStore* store, std::int64_t id) { return store->Get(id)->state; }

TEST(DroverdTest, ChildrenAreNamedAndRunning) {
  Daemon d(kPools);
  ASSERT_TRUE(d.Start()) << d.Log();
  nlohmann::json st = d.Request("status");
  ASSERT_EQ(st["result"].size(), 3u);
  EXPECT_EQ(st["result"][0]["name"], "scheduler");
  EXPECT_EQ(st["result"][1]["name"], "worker:default:0");
  EXPECT_EQ(st["result"][2]["name"], "worker:default:1");
  pid_t w = d.PidOf("worker:default:1");
  std::ifstream cmdline("/proc/" + std::to_string(w) + "/cmdline");
  std::string title;
  std::getline(cmdline, title, '\0');
  EXPECT_EQ(title, "drover: worker default#1");
  // Post-fork hygiene: the worker holds no control socket or lock file of the supervisor.
  std::string fds = "/proc/" + std::to_string(w) + "/fd";
  for (const auto& e : std::filesystem::directory_iterator(fds)) {
    std::string target = std::filesystem::read_symlink(e.path()).string();
    EXPECT_EQ(target.find("drover.db.lock"), std::string::npos);
    EXPECT_EQ(target.find("drover.sock"), std::string::npos);
  }
  EXPECT_EQ(WEXITSTATUS(d.Stop()), 0);
}

TEST(DroverdTest, KilledWorkerIsRestartedAndItsJobRequeuedAtOnce) {
  Daemon d(kPools, "restart_delay = \"300ms\"\n");
  ASSERT_TRUE(d.Start()) << d.Log();
  auto store = d.Store();
  std::int64_t id = Enqueue(store.get(), "sleepy");
  ASSERT_TRUE(WaitFor([&] { return StateOf(store.get(), id) == JobState::kRunning; }, 5000));
  Job j = *store->Get(id);
  std::string worker = j.worker->substr(0, j.worker->find('@'));
  pid_t old_pid = d.PidOf(worker);
  pid_t job_pid = static_cast<pid_t>(j.pid.value_or(0));
  ASSERT_GT(old_pid, 0);
  ASSERT_EQ(kill(old_pid, SIGKILL), 0);
  // Re-queued (and picked up by the other worker) long before any lease could expire.
  ASSERT_TRUE(WaitFor(
      [&] {
        Job now = *store->Get(id);
        return now.attempts == 2 || now.state == JobState::kQueued;
      },
      1000))
      << d.Log();
  EXPECT_TRUE(WaitFor([&] { return !Alive(job_pid); }, 1000)) << "job process survived its worker";
  ASSERT_TRUE(WaitFor([&] { return StateOf(store.get(), id) == JobState::kSucceeded; }, 10'000)) << d.Log();
  EXPECT_EQ(store->Get(id)->attempts, 2);
  ASSERT_TRUE(WaitFor([&] { return d.PidOf(worker) > 0 && d.PidOf(worker) != old_pid; }, 5000));
  nlohmann::json p = d.Process(worker);
  EXPECT_EQ(p["restarts"], 1);
  EXPECT_EQ(p["last_exit"], "killed by signal 9 (SIGKILL)");
  EXPECT_EQ(WEXITSTATUS(d.Stop()), 0);
}

std::string TitleOf(pid_t pid) {
  std::ifstream cmdline("/proc/" + std::to_string(pid) + "/cmdline");
  std::string title;
  std::getline(cmdline, title, '\0');
  return title;
}

// Waits for the spare to report idle; its pid, or 0.
pid_t IdleSpare(Daemon& d) {
  pid_t spare = 0;
  WaitFor(
      [&] {
        spare = d.SparePid();
        return spare > 0 &&
               d.Log().find("spare: idle (pid " + std::to_string(spare) + ")") != std::string::npos;
      },
      5000);
  return spare;
}

// Kills the worker running a fresh `sleepy` job; returns the job id and the worker's name.
std::pair<std::int64_t, std::string> KillWorkerHoldingAJob(Daemon& d, JobStore* store) {
  std::int64_t id = Enqueue(store, "sleepy");
  EXPECT_TRUE(WaitFor([&] { return store->Get(id)->pid.has_value(); }, 5000));
  Job j = *store->Get(id);
  std::string worker = j.worker->substr(0, j.worker->find('@'));
  EXPECT_EQ(kill(d.PidOf(worker), SIGKILL), 0);
  return {id, worker};
}

TEST(DroverdTest, TheSpareReplacesAKilledWorkerAndReQueuesItsJobFirst) {
  Daemon d(kPools, "restart_delay = \"0s\"\nrestart_delay_max = \"0s\"\n");
  ASSERT_TRUE(d.Start()) << d.Log();
  pid_t spare = IdleSpare(d);
  ASSERT_GT(spare, 0) << d.Log();
  auto store = d.Store();
  auto [id, worker] = KillWorkerHoldingAJob(d, store.get());
  ASSERT_TRUE(WaitFor([&] { return d.PidOf(worker) == spare && d.AllRunning(); }, 10'000)) << d.Log();
  EXPECT_EQ(TitleOf(spare), "drover: worker " + worker.substr(7, worker.rfind(':') - 7) + "#" +
                                worker.substr(worker.rfind(':') + 1));
  ASSERT_TRUE(WaitFor([&] { return StateOf(store.get(), id) == JobState::kSucceeded; }, 10'000)) << d.Log();
  EXPECT_EQ(store->Get(id)->attempts, 2);
  EXPECT_NE(d.Log().find("re-queued 1 job(s) of " + worker + "@"), std::string::npos) << d.Log();
  // A new spare takes its place.
  pid_t next = 0;
  ASSERT_TRUE(WaitFor([&] { return (next = d.SparePid()) > 0 && next != spare; }, 10'000)) << d.Log();
  EXPECT_EQ(WEXITSTATUS(d.Stop()), 0);
  EXPECT_FALSE(Alive(next));
  EXPECT_FALSE(Alive(spare));
}

TEST(DroverdTest, WithoutASpareAKilledWorkerIsForkedAgain) {
  Daemon d(kPools, "spare = false\nrestart_delay = \"0s\"\nrestart_delay_max = \"0s\"\n");
  ASSERT_TRUE(d.Start()) << d.Log();
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  EXPECT_EQ(d.SparePid(), 0);
  auto store = d.Store();
  auto [id, worker] = KillWorkerHoldingAJob(d, store.get());
  ASSERT_TRUE(WaitFor([&] { return d.Process(worker)["restarts"] == 1 && d.AllRunning(); }, 10'000))
      << d.Log();
  ASSERT_TRUE(WaitFor([&] { return StateOf(store.get(), id) == JobState::kSucceeded; }, 10'000)) << d.Log();
  EXPECT_EQ(store->Get(id)->attempts, 2);
  EXPECT_EQ(d.SparePid(), 0);
  EXPECT_EQ(WEXITSTATUS(d.Stop()), 0);
}

TEST(DroverdTest, AKilledSpareIsReplacedAndAReloadRenewsIt) {
  Daemon d(kPools, "restart_delay = \"100ms\"\n");
  ASSERT_TRUE(d.Start()) << d.Log();
  pid_t first = IdleSpare(d);
  ASSERT_GT(first, 0) << d.Log();
  ASSERT_EQ(kill(first, SIGKILL), 0);
  pid_t second = 0;
  ASSERT_TRUE(WaitFor([&] { return (second = d.SparePid()) > 0 && second != first; }, 10'000)) << d.Log();
  nlohmann::json status = d.Request("status");
  for (const auto& p : status["result"]) EXPECT_EQ(p["restarts"], 0) << p.dump();
  ASSERT_EQ(kill(d.pid(), SIGHUP), 0);  // the spare holds the configuration it was forked with
  pid_t third = 0;
  ASSERT_TRUE(WaitFor([&] { return (third = d.SparePid()) > 0 && third != second; }, 10'000)) << d.Log();
  EXPECT_TRUE(WaitFor([&] { return !Alive(second); }, 10'000));
  EXPECT_EQ(WEXITSTATUS(d.Stop()), 0);
  EXPECT_FALSE(Alive(third));
}

TEST(DroverdTest, CoolOffGrowsInACrashLoopAndIsVisible) {
  Daemon d(kPools, "restart_delay = \"500ms\"\nrestart_delay_max = \"5s\"\nstartsecs = \"30s\"\n");
  ASSERT_TRUE(d.Start()) << d.Log();
  for (int i = 0; i < 3; ++i) {
    // 500ms, 1s, 2s, each +-10%: what is left when looked at is never more, and the time from the
    // kill until the scheduler runs again never less (a loaded machine only adds to either wait).
    const double cool_off = 0.5 * (1 << i);
    pid_t pid = d.PidOf("scheduler");
    ASSERT_GT(pid, 0);
    std::int64_t killed = MonotonicUs();
    kill(pid, SIGKILL);
    ASSERT_TRUE(WaitFor([&] { return d.Process("scheduler")["state"] == "BACKOFF"; }, 5000)) << d.Log();
    EXPECT_LE(d.Process("scheduler")["retry_in_s"].get<double>(), cool_off * 1.1) << i;
    ASSERT_TRUE(WaitFor([&] { return d.Process("scheduler")["state"] == "RUNNING"; }, 10'000)) << d.Log();
    EXPECT_GE((MonotonicUs() - killed) / 1e6, cool_off * 0.9) << i;
  }
  EXPECT_EQ(d.Process("scheduler")["restarts"], 3);
  EXPECT_EQ(WEXITSTATUS(d.Stop()), 0);
}

TEST(DroverdTest, ASilentChildIsKilledAndRestarted) {
  Daemon d(kPools, "hang_timeout = \"500ms\"\nrestart_delay = \"100ms\"\n");
  ASSERT_TRUE(d.Start()) << d.Log();
  pid_t hung = d.PidOf("worker:default:0");
  ASSERT_EQ(kill(hung, SIGSTOP), 0);  // alive, but no heartbeat
  ASSERT_TRUE(WaitFor([&] { return d.PidOf("worker:default:0") != hung && d.AllRunning(); }, 5000))
      << d.Log();
  EXPECT_FALSE(Alive(hung));
  EXPECT_NE(d.Log().find("worker:default:0: no heartbeat for 500ms"), std::string::npos);
  EXPECT_EQ(WEXITSTATUS(d.Stop()), 0);
}

TEST(DroverdTest, WorkerIsRecycledAfterMaxJobsWithoutLosingAny) {
  Daemon d(R"(
[pools.default]
workers = 1
max_jobs = 3
[jobs.quick]
command = ["/bin/true"]
)");
  ASSERT_TRUE(d.Start()) << d.Log();
  pid_t first = d.PidOf("worker:default:0");
  auto store = d.Store();
  std::vector<std::int64_t> ids;
  for (int i = 0; i < 10; ++i) ids.push_back(Enqueue(store.get(), "quick"));
  for (std::int64_t id : ids) {
    ASSERT_TRUE(WaitFor([&] { return StateOf(store.get(), id) == JobState::kSucceeded; }, 10'000)) << d.Log();
  }
  EXPECT_NE(d.PidOf("worker:default:0"), first);
  EXPECT_TRUE(WaitFor([&] { return !Alive(first); }, 5000)) << "the recycled worker did not exit";
  EXPECT_NE(d.Log().find("jobs (max_jobs)"), std::string::npos);
  EXPECT_EQ(d.Process("worker:default:0")["restarts"], 0);  // a recycle is not a crash
  EXPECT_EQ(WEXITSTATUS(d.Stop()), 0);
}

TEST(DroverdTest, SigtermLetsJobsFinishWithinTheTimeout) {
  Daemon d(kPools, "shutdown_timeout = \"10s\"\n");
  ASSERT_TRUE(d.Start()) << d.Log();
  auto store = d.Store();
  std::int64_t id = Enqueue(store.get(), "sleepy");
  ASSERT_TRUE(WaitFor([&] { return StateOf(store.get(), id) == JobState::kRunning; }, 5000));
  EXPECT_EQ(WEXITSTATUS(d.Stop()), 0);
  EXPECT_EQ(StateOf(store.get(), id), JobState::kSucceeded);
}

TEST(DroverdTest, SigtermPastTheTimeoutRequeuesWithoutSpendingAnAttempt) {
  Daemon d(R"(
[pools.default]
workers = 1
[jobs.long]
command = ["/bin/sh", "-c", "trap '' TERM; sleep 30"]
kill_after = "500ms"
)",
           "shutdown_timeout = \"500ms\"\n");
  ASSERT_TRUE(d.Start()) << d.Log();
  auto store = d.Store();
  std::int64_t id = Enqueue(store.get(), "long");
  ASSERT_TRUE(WaitFor([&] { return store->Get(id)->pid.has_value(); }, 5000));
  pid_t job_pid = static_cast<pid_t>(*store->Get(id)->pid);
  std::int64_t t0 = MonotonicUs();
  EXPECT_EQ(WEXITSTATUS(d.Stop()), 0);
  EXPECT_LT(MonotonicUs() - t0, 5'000'000);
  Job j = *store->Get(id);
  EXPECT_EQ(j.state, JobState::kQueued);
  EXPECT_EQ(j.attempts, 0);
  EXPECT_FALSE(Alive(job_pid));
}

TEST(DroverdTest, KillingTheSupervisorTakesChildrenAlongAndTheNextStartRecovers) {
  Daemon d(kPools);
  ASSERT_TRUE(d.Start()) << d.Log();
  auto store = d.Store();
  std::int64_t id = Enqueue(store.get(), "sleepy", "{}");
  // The claim marks the job running; its pid is recorded a moment later, after the spawn.
  ASSERT_TRUE(WaitFor([&] { return store->Get(id)->pid.has_value(); }, 5000));
  std::vector<pid_t> kids;
  nlohmann::json status = d.Request("status");
  for (const auto& p : status["result"]) kids.push_back(p["pid"].get<pid_t>());
  pid_t job_pid = static_cast<pid_t>(*store->Get(id)->pid);
  d.Kill();
  for (pid_t k : kids) EXPECT_TRUE(WaitFor([&] { return !Alive(k); }, 2000)) << "child " << k << " survived";
  EXPECT_TRUE(WaitFor([&] { return !Alive(job_pid); }, 2000));
  EXPECT_EQ(StateOf(store.get(), id), JobState::kRunning);  // nobody left to say otherwise
  ASSERT_TRUE(d.Start()) << d.Log();
  ASSERT_TRUE(WaitFor([&] { return StateOf(store.get(), id) == JobState::kSucceeded; }, 10'000)) << d.Log();
  EXPECT_EQ(store->Get(id)->attempts, 1);  // the interrupted attempt was refunded
  EXPECT_EQ(WEXITSTATUS(d.Stop()), 0);
}

TEST(DroverdTest, ASecondSupervisorOnTheSameDatabaseIsRefused) {
  Daemon d(kPools);
  ASSERT_TRUE(d.Start()) << d.Log();
  ShellResult second = RunShell(std::string(DROVERD_PATH) + " -c " + d.config() + " 2>&1");
  EXPECT_EQ(second.code, 1);
  EXPECT_NE(second.out.find("already running"), std::string::npos) << second.out;
  EXPECT_TRUE(d.AllRunning());
  EXPECT_EQ(WEXITSTATUS(d.Stop()), 0);
}

TEST(DroverdTest, CheckConfigReportsFileLineAndKey) {
  Daemon good(kPools);
  EXPECT_EQ(RunShell(std::string(DROVERD_PATH) + " --check-config -c " + good.config() + " 2>&1").code, 0);
  Daemon bad("[pools.default]\nworkers = 0\n");
  ShellResult r = RunShell(std::string(DROVERD_PATH) + " --check-config -c " + bad.config() + " 2>&1");
  EXPECT_EQ(r.code, 1);
  EXPECT_NE(r.out.find("drover.toml:8: [pools.default] workers"), std::string::npos) << r.out;
}

// What a valid configuration probably got wrong is a warning; --strict makes it an error.
TEST(DroverdTest, CheckConfigWarnsOfUnservedQueuesAndMissingProgramsStrictRefuses) {
  Daemon d(R"(
[pools.default]
workers = 1
[jobs.report]
queue = "reports"
command = ["/nonexistent/report"]
)");
  ShellResult r = RunShell(std::string(DROVERD_PATH) + " --check-config -c " + d.config() + " 2>&1");
  EXPECT_EQ(r.code, 0) << r.out;
  EXPECT_NE(r.out.find("warning: [jobs.report] queue \"reports\" is served by no pool"), std::string::npos)
      << r.out;
  EXPECT_NE(r.out.find("warning: [jobs.report] command /nonexistent/report does not exist"),
            std::string::npos);
  r = RunShell(std::string(DROVERD_PATH) + " --check-config --strict -c " + d.config() + " 2>&1");
  EXPECT_EQ(r.code, 1) << r.out;
  EXPECT_NE(r.out.find("error: [jobs.report] queue"), std::string::npos) << r.out;

  // enqueue to a queue nobody serves: a warning, still enqueued; --strict refuses.
  ShellResult e =
      RunShell(std::string(DROVERCTL_PATH) + " -c " + d.config() + " enqueue report 2>&1 >/dev/null");
  EXPECT_EQ(e.code, 0) << e.out;
  EXPECT_NE(e.out.find("warning: no pool serves queue \"reports\""), std::string::npos) << e.out;
  e = RunShell(std::string(DROVERCTL_PATH) + " -c " + d.config() + " enqueue report --strict 2>&1");
  EXPECT_EQ(e.code, 1) << e.out;
  EXPECT_EQ(d.Store()->List({})->size(), 1u);
}

// The control socket takes up to 256 clients and every child its pipes: with fewer descriptors
// allowed, droverd says so and does not start (it started children that reported into its log).
TEST(DroverdTest, ATooLowOpenFileLimitIsRefusedAtStart) {
  Daemon d(kPools);
  ShellResult r = RunShell("ulimit -n 100 && " + std::string(DROVERD_PATH) + " -c " + d.config() + " 2>&1");
  EXPECT_EQ(r.code, 1) << r.out;
  EXPECT_NE(r.out.find("the open-file limit is 100; droverd needs at least 256"), std::string::npos) << r.out;
  // At the minimum, children set up and run; SIGTERM after 3 s stops droverd cleanly.
  r = RunShell("ulimit -n 256 && timeout --preserve-status -s TERM 3 " + std::string(DROVERD_PATH) + " -c " +
               d.config() + " 2>&1");
  EXPECT_EQ(r.code, 0) << r.out;
  EXPECT_EQ(d.Log().find("drover child"), std::string::npos) << d.Log();
  EXPECT_NE(d.Log().find("[worker:default:0 "), std::string::npos) << d.Log();
  EXPECT_NE(d.Log().find("started; queues"), std::string::npos) << d.Log();
}

// A droverd killed while it forks leaves a child holding the database's lock for a moment: the
// next start waits that out when the droverd named in the lock is gone, and says who holds it if it
// does not end.
TEST(DroverdTest, ALockLeftByAGoneDroverdsChildIsWaitedOut) {
  Daemon d(kPools);
  pid_t gone = fork();
  if (gone == 0) _exit(0);
  waitpid(gone, nullptr, 0);
  const std::string lock = d.db() + ".lock";
  UniqueFd held(open(lock.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600));
  ASSERT_TRUE(held);
  ASSERT_EQ(flock(held.get(), LOCK_EX), 0);
  const std::string pid = std::to_string(gone);
  ASSERT_EQ(pwrite(held.get(), pid.data(), pid.size(), 0), static_cast<ssize_t>(pid.size()));
  std::thread release([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
    held.Reset();
  });
  bool started = d.Start();
  release.join();
  EXPECT_TRUE(started) << d.Log();
  EXPECT_EQ(WEXITSTATUS(d.Stop()), 0);

  held.Reset(open(lock.c_str(), O_RDWR | O_CLOEXEC));
  ASSERT_EQ(flock(held.get(), LOCK_EX), 0);
  ASSERT_EQ(ftruncate(held.get(), 0), 0);
  ASSERT_EQ(pwrite(held.get(), pid.data(), pid.size(), 0), static_cast<ssize_t>(pid.size()));
  ShellResult r = RunShell(std::string(DROVERD_PATH) + " -c " + d.config() + " 2>&1");
  EXPECT_EQ(r.code, 1) << r.out;
  EXPECT_NE(r.out.find("is still locked by a process of droverd " + pid + ", which has exited"),
            std::string::npos)
      << r.out << d.Log();
}

// droverd and the processes it keeps write to the log they opened: a new log_file is a change
// for the next start, said so, rather than half applied (droverd went on writing to the old).
TEST(DroverdTest, ANewLogFileTakesEffectAtTheNextStart) {
  Daemon d(kPools);
  ASSERT_TRUE(d.Start()) << d.Log();
  std::string text = ReadFile(d.config());
  const std::string old_log = "log_file = \"drover.log\"";
  text.replace(text.find(old_log), old_log.size(), "log_file = \"other.log\"");
  d.RewriteConfig(text);
  ShellResult r = Ctl(d, "update");
  EXPECT_EQ(r.code, 0) << r.out;
  EXPECT_NE(r.out.find("supervisor.log_file: changed; takes effect when droverd restarts"), std::string::npos)
      << r.out;
  EXPECT_NE(d.Log().find("a change of [supervisor] log_file takes effect only after a restart"),
            std::string::npos)
      << d.Log();
  EXPECT_EQ(Ctl(d, "tail -n 5 worker:default:0").code, 0);  // still the log droverd writes
  EXPECT_FALSE(std::filesystem::exists(d.dir() + "/other.log"));
  EXPECT_EQ(WEXITSTATUS(d.Stop()), 0);
}

// A reload replaces workers without interrupting their jobs: a changed job type, a new type and
// one more worker leave a running job alone (shutdown_timeout is 500 ms here); the replaced
// worker is listed as DRAINING and exits once the job has ended.
TEST(DroverdTest, AReloadLetsRunningJobsFinish) {
  const std::string head =
      "[supervisor]\ndatabase = \"drover.db\"\nsocket = \"drover.sock\"\nlog_file = \"drover.log\"\n"
      "shutdown_timeout = \"500ms\"\n";
  const std::string pool = "[pools.default]\nworkers = 2\nconcurrency = 1\n";
  Daemon d("");
  const std::string release = d.dir() + "/release";
  const std::string job = "[jobs.long]\ncommand = [\"/bin/sh\", \"-c\", \"while [ ! -e " + release +
                          " ]; do sleep 0.05; done; echo done\"]\ntimeout = \"60s\"\n";
  d.RewriteConfig(head + pool + job);
  ASSERT_TRUE(d.Start()) << d.Log();
  auto store = d.Store();
  std::int64_t id = Enqueue(store.get(), "long");
  ASSERT_TRUE(WaitFor([&] { return store->Get(id)->pid.has_value(); }, 5000)) << d.Log();
  const pid_t job_pid = static_cast<pid_t>(*store->Get(id)->pid);
  const std::string worker_id = *store->Get(id)->worker;  // "worker:default:N@PID"
  const pid_t worker = std::stoi(worker_id.substr(worker_id.rfind('@') + 1));
  const std::string listed = worker_id.substr(worker_id.find("worker:"));
  auto draining = [&] {
    const nlohmann::json status = d.Request("status");
    for (const auto& p : status["result"]) {
      if (p["name"] == listed && p["state"] == "DRAINING" && p["pid"] == worker) return true;
    }
    return false;
  };

  std::string edited = job;
  edited.replace(edited.find("60s"), 3, "61s");
  d.RewriteConfig(head + pool + edited);
  ShellResult r = Ctl(d, "update");
  EXPECT_NE(r.out.find("pool:default: changed"), std::string::npos) << r.out;
  EXPECT_TRUE(WaitFor(draining, 5000)) << d.Request("status").dump();
  ShellResult status = Ctl(d, "status");
  EXPECT_NE(status.out.find(listed), std::string::npos) << status.out;
  EXPECT_NE(status.out.find("DRAINING"), std::string::npos) << status.out;
  ASSERT_TRUE(WaitFor([&] { return d.AllRunning(); }, 5000)) << d.Log();

  d.RewriteConfig(head + pool + edited + "[jobs.other]\ncommand = [\"/bin/true\"]\nqueue = \"q2\"\n");
  EXPECT_EQ(Ctl(d, "update").code, 0);
  ASSERT_TRUE(WaitFor([&] { return d.AllRunning(); }, 5000)) << d.Log();
  // The restarted scheduler stored the new type for enqueuers that read job_types.
  const std::vector<JobTypeDefaults> types = {{"long"}, {"other", "q2"}};
  EXPECT_TRUE(WaitFor(
      [&] {
        Result<std::vector<JobTypeDefaults>> now = store->JobTypes();
        return now.ok() && *now == types;
      },
      5000))
      << d.Log();
  const pid_t w0 = d.PidOf("worker:default:0"), w1 = d.PidOf("worker:default:1");
  std::string grown = pool;
  grown.replace(grown.find("workers = 2"), 11, "workers = 3");
  d.RewriteConfig(head + grown + edited + "[jobs.other]\ncommand = [\"/bin/true\"]\nqueue = \"q2\"\n");
  r = Ctl(d, "update");
  EXPECT_NE(r.out.find("pool:default: resized"), std::string::npos) << r.out;
  ASSERT_TRUE(WaitFor([&] { return d.PidOf("worker:default:2") > 0 && d.AllRunning(); }, 5000)) << d.Log();
  EXPECT_EQ(d.PidOf("worker:default:0"), w0) << "one more worker, the others kept";
  EXPECT_EQ(d.PidOf("worker:default:1"), w1);

  // Well past shutdown_timeout, the job still runs in its first attempt, its worker draining.
  std::this_thread::sleep_for(std::chrono::milliseconds(1000));
  EXPECT_TRUE(Alive(job_pid));
  EXPECT_TRUE(Alive(worker));
  EXPECT_TRUE(draining());
  std::ofstream(release) << "";
  ASSERT_TRUE(Finished(store.get(), id)) << d.Log();
  Job done = *store->Get(id);
  EXPECT_EQ(done.state, JobState::kSucceeded) << done.last_error.value_or("");
  EXPECT_EQ(done.attempts, 1);
  EXPECT_TRUE(WaitFor([&] { return !Alive(worker) && !draining(); }, 5000)) << d.Log();
  EXPECT_EQ(d.Log().find("interrupted"), std::string::npos) << d.Log();
  EXPECT_EQ(WEXITSTATUS(d.Stop()), 0);
}

TEST(DroverdTest, SighupAppliesAValidConfigAndRejectsAnInvalidOne) {
  Daemon d(kPools);
  ASSERT_TRUE(d.Start()) << d.Log();
  pid_t w0 = d.PidOf("worker:default:0");
  std::string head =
      "[supervisor]\ndatabase = \"drover.db\"\nsocket = \"drover.sock\"\nlog_file = \"drover.log\"\n";
  d.RewriteConfig(head + "[pools.default]\nworkers = 0\n");
  kill(d.pid(), SIGHUP);
  ASSERT_TRUE(WaitFor([&] { return d.Log().find("reload rejected") != std::string::npos; }, 10'000));
  EXPECT_TRUE(d.AllRunning());
  EXPECT_EQ(d.PidOf("worker:default:0"), w0);

  d.RewriteConfig(std::string(head) + kPools + "\n[pools.extra]\nworkers = 1\nqueues = [\"extra\"]\n");
  kill(d.pid(), SIGHUP);
  ASSERT_TRUE(WaitFor([&] { return d.PidOf("worker:extra:0") > 0 && d.AllRunning(); }, 5000)) << d.Log();
  EXPECT_EQ(d.PidOf("worker:default:0"), w0);  // unchanged pools keep running
  EXPECT_EQ(WEXITSTATUS(d.Stop()), 0);
}

TEST(DroverdTest, ControlSocketRejectsGarbageAndKeepsServing) {
  Daemon d(kPools);
  ASSERT_TRUE(d.Start()) << d.Log();
  struct stat st;
  ASSERT_EQ(stat(d.socket().c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0660u);
  Result<std::string> r = ControlRequest(d.socket(), "not json", 2000);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_NE(r->find("malformed request"), std::string::npos);
  r = ControlRequest(d.socket(), std::string(100'000, 'x'), 2000);
  EXPECT_TRUE(!r.ok() || r->find("too large") != std::string::npos);
  EXPECT_EQ(d.Request("frobnicate")["error"], "unknown command \"frobnicate\"");
  // A client that connects and never speaks does not hold up the others.
  UniqueFd silent(socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  snprintf(addr.sun_path, sizeof addr.sun_path, "%s", d.socket().c_str());
  ASSERT_EQ(connect(silent.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
  EXPECT_EQ(d.Request("status")["ok"], true);
  // Another user gets no answer from the socket (mode 0660, owner and group of the daemon).
  if (geteuid() == 0) {
    chmod(d.dir().c_str(), 0755);  // the config may be read by all, the socket stays 0660
    chmod(d.config().c_str(), 0644);
    ShellResult other = Ctl(d, "status", "", "setpriv --reuid=65534 --regid=65534 --clear-groups ");
    EXPECT_NE(other.code, 0) << other.out;
    EXPECT_NE(other.out.find("join the socket's group"), std::string::npos) << other.out;
  }
  EXPECT_TRUE(d.AllRunning());
  EXPECT_EQ(WEXITSTATUS(d.Stop()), 0);
}

TEST(DroverdTest, StopStartAndRestartProcesses) {
  Daemon d(kPools);
  ASSERT_TRUE(d.Start()) << d.Log();
  pid_t w1 = d.PidOf("worker:default:1");
  ASSERT_EQ(d.Request("stop", {"worker:default:1"})["ok"], true);
  ASSERT_TRUE(WaitFor([&] { return d.Process("worker:default:1")["state"] == "STOPPED"; }, 5000));
  EXPECT_FALSE(Alive(w1));
  ASSERT_EQ(d.Request("start", {"default:*"})["ok"], true);
  ASSERT_TRUE(WaitFor([&] { return d.Process("worker:default:1")["state"] == "RUNNING"; }, 5000));
  pid_t w0 = d.PidOf("worker:default:0");
  ASSERT_EQ(d.Request("restart", {"worker:default:0"})["ok"], true);
  ASSERT_TRUE(WaitFor([&] { return d.PidOf("worker:default:0") != w0 && d.AllRunning(); }, 5000));
  EXPECT_EQ(d.Request("stop", {"nope"})["ok"], false);
  EXPECT_EQ(WEXITSTATUS(d.Stop()), 0);
}

}  // namespace
}  // namespace drover::testing
