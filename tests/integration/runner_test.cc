// Black-box tests of long-lived runners ([runners.NAME], docs/runner-protocol.md) under a real
// droverd: the Python client in both isolation modes, a runner that breaks the protocol, and
// kill -9 of runners and workers under load.
#include <gtest/gtest.h>
#include <signal.h>

#include <fstream>
#include <map>
#include <random>
#include <sstream>
#include <thread>

#include "tests/integration/ctl.h"
#include "tests/integration/daemon.h"

namespace drover::testing {
namespace {

const std::string kSource = DROVER_SOURCE_DIR;

// A config whose pool runs tests/integration/runner_app.py (with the given isolation), its work
// files in `work`.
std::string AppConfig(const std::string& isolation, const std::string& work, int workers = 1,
                      const std::string& extra = "") {
  return R"(
[pools.default]
workers = )" +
         std::to_string(workers) +
         R"(
concurrency = 4
[runners.app]
command = ["/usr/bin/python3", ")" +
         kSource + "/tests/integration/runner_app.py\", \"" + isolation + "\", \"" + work + R"("]
env = { PYTHONPATH = ")" +
         kSource + R"(/clients/python" }
[jobs.echo]
runner = "app"
max_attempts = 20
retry_delay = "10ms"
[jobs.resume]
runner = "app"
max_attempts = 2
retry_delay = "10ms"
[jobs.permanent]
runner = "app"
[jobs.polite]
runner = "app"
[jobs.stubborn]
runner = "app"
timeout = "1s"
kill_after = "500ms"
max_attempts = 1
[jobs.crash]
runner = "app"
retry_delay = "10ms"
[jobs.chaos]
runner = "app"
max_attempts = 1000
retry_delay = "10ms"
)" + extra;
}

// Lines of `path` by their first word.
std::map<std::string, int> CountRuns(const std::string& path) {
  std::map<std::string, int> n;
  std::ifstream in(path);
  for (std::string line; std::getline(in, line);) n[line.substr(0, line.find(' '))]++;
  return n;
}

// The processes `pid` started (from /proc).
std::vector<pid_t> ChildrenOf(pid_t pid) {
  std::string p = std::to_string(pid);
  std::ifstream children("/proc/" + p + "/task/" + p + "/children");
  std::vector<pid_t> out;
  for (pid_t c; children >> c;) out.push_back(c);
  return out;
}

class RunnerTest : public ::testing::TestWithParam<std::string> {
 protected:
  TempDir work_;
};

INSTANTIATE_TEST_SUITE_P(Isolation, RunnerTest, ::testing::Values("process", "fork"));

TEST_P(RunnerTest, ResultsProgressCheckpointsAndFailures) {
  Daemon d(AppConfig(GetParam(), work_.path()));
  ASSERT_TRUE(d.Start()) << d.Log();
  auto store = d.Store();
  std::vector<std::int64_t> echoes;
  for (int i = 0; i < 20; ++i)
    echoes.push_back(Enqueue(store.get(), "echo", "{\"n\":" + std::to_string(i) + "}"));
  std::int64_t resume = Enqueue(store.get(), "resume", "{}", 2);
  std::int64_t permanent = Enqueue(store.get(), "permanent", "{}", 5);
  for (std::int64_t id : echoes) {
    ASSERT_TRUE(Finished(store.get(), id)) << d.Log();
    Job j = *store->Get(id);
    EXPECT_EQ(j.state, JobState::kSucceeded) << j.last_error.value_or("");
    nlohmann::json r = nlohmann::json::parse(j.result.value_or("null"));
    EXPECT_EQ(r["echo"], nlohmann::json::parse(j.payload));
    EXPECT_EQ(r["attempt"], 1);
  }
  ASSERT_TRUE(Finished(store.get(), resume)) << d.Log();
  Job r = *store->Get(resume);
  EXPECT_EQ(r.state, JobState::kSucceeded) << r.last_error.value_or("");
  EXPECT_EQ(r.attempts, 2);
  EXPECT_EQ(r.result, R"({"checkpoint":{"step":2}})");
  EXPECT_EQ(r.progress_message, "resumed");
  EXPECT_NE(r.errors.find("first attempt fails on purpose"), std::string::npos) << r.errors;
  EXPECT_NE(r.errors.find("Traceback"), std::string::npos) << r.errors;
  ASSERT_TRUE(Finished(store.get(), permanent)) << d.Log();
  Job p = *store->Get(permanent);
  EXPECT_EQ(p.state, JobState::kFailed);
  EXPECT_EQ(p.attempts, 1);
  EXPECT_EQ(p.last_error, "this cannot work");
  EXPECT_EQ(CountRuns(work_.path() + "/runs.log")["overlap"], 0);
  // One runner served them all: no interpreter per job.
  std::string log = d.Log();
  size_t starts = 0;
  for (size_t at = 0; (at = log.find(") started: /usr/bin/python3", at)) != std::string::npos; ++at) ++starts;
  EXPECT_EQ(starts, 1u) << log;
}

TEST_P(RunnerTest, CancelTimeoutAndTheJobsBehindAStuckOne) {
  Daemon d(AppConfig(GetParam(), work_.path()));
  ASSERT_TRUE(d.Start()) << d.Log();
  auto store = d.Store();
  std::int64_t polite = Enqueue(store.get(), "polite");
  ASSERT_TRUE(WaitFor([&] { return store->Get(polite)->state == JobState::kRunning; }, 10'000)) << d.Log();
  ASSERT_TRUE(store->Cancel(polite).ok());
  ASSERT_TRUE(Finished(store.get(), polite)) << d.Log();
  EXPECT_EQ(store->Get(polite)->state, JobState::kCancelled);

  std::int64_t stubborn = Enqueue(store.get(), "stubborn", "{}", 1);
  ASSERT_TRUE(WaitFor([&] { return store->Get(stubborn)->state == JobState::kRunning; }, 10'000)) << d.Log();
  // Sent to the runner while the stuck job holds it (in-process: queued behind it).
  std::int64_t behind = Enqueue(store.get(), "echo", "{}", 1);
  ASSERT_TRUE(Finished(store.get(), stubborn)) << d.Log();
  Job s = *store->Get(stubborn);
  EXPECT_EQ(s.state, JobState::kFailed);
  EXPECT_EQ(s.last_error.value_or("").rfind("timed out after 1s", 0), 0u) << s.last_error.value_or("");
  ASSERT_TRUE(Finished(store.get(), behind)) << d.Log();
  Job b = *store->Get(behind);
  EXPECT_EQ(b.state, JobState::kSucceeded) << b.errors;
  // Its attempt was not spent (max_attempts is 1).
  EXPECT_EQ(nlohmann::json::parse(b.result.value_or("null"))["attempt"], 1);
  if (GetParam() == "process") {
    EXPECT_NE(b.errors.find("re-queued: runner app"), std::string::npos) << b.errors;
    EXPECT_NE(d.Log().find("did not stop within kill_after 500ms of its cancel"), std::string::npos)
        << d.Log();
  }
}

TEST_P(RunnerTest, ADeadJobProcessCostsOneAttempt) {
  Daemon d(AppConfig(GetParam(), work_.path()));
  ASSERT_TRUE(d.Start()) << d.Log();
  auto store = d.Store();
  std::int64_t id = Enqueue(store.get(), "crash");
  ASSERT_TRUE(Finished(store.get(), id, 20'000)) << d.Log();
  Job j = *store->Get(id);
  EXPECT_EQ(j.state, JobState::kSucceeded) << j.errors;
  EXPECT_EQ(j.attempts, 2);
  EXPECT_NE(j.errors.find("killed by signal 9 (SIGKILL)"), std::string::npos) << j.errors;
}

// kill -9 of runners and of workers while jobs run: every job ends, none runs twice at once.
// DROVER_CHAOS_SECONDS=N runs it for N seconds instead of 6 (a soak).
TEST_P(RunnerTest, KillNineOfRunnersAndWorkersLosesNothing) {
  Daemon d(AppConfig(GetParam(), work_.path(), 2), "restart_delay = \"100ms\"\n");
  ASSERT_TRUE(d.Start()) << d.Log();
  auto store = d.Store();
  std::mt19937 rng(GetParam() == "fork" ? 2 : 1);
  std::vector<std::int64_t> ids;
  auto enqueue = [&](int n) {
    for (int i = 0; i < n; ++i) {
      ids.push_back(Enqueue(store.get(), "chaos", "{\"ms\":" + std::to_string(rng() % 20) + "}", 1000));
    }
  };
  enqueue(200);
  int runner_kills = 0, worker_kills = 0;
  const char* soak = getenv("DROVER_CHAOS_SECONDS");
  std::int64_t until = MonotonicUs() + (soak ? std::atoll(soak) : 6) * 1'000'000;
  // At least 6 s, and on a loaded machine (where a killed runner takes longer to come back) on
  // until the kills checked below have been made, for at most 30 s more.
  auto enough_kills = [&] { return runner_kills > 5 && worker_kills > 0; };
  while (MonotonicUs() < until || (!enough_kills() && MonotonicUs() < until + 30'000'000)) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100 + rng() % 200));
    enqueue(40);  // about what two workers do meanwhile: the queue neither drains nor piles up
    pid_t w = d.PidOf("worker:default:" + std::to_string(rng() % 2));
    if (w <= 0) continue;
    if (rng() % 4 == 0) {
      if (kill(w, SIGKILL) == 0) ++worker_kills;
    } else {
      std::vector<pid_t> runners = ChildrenOf(w);
      if (!runners.empty() && kill(runners[0], SIGKILL) == 0) ++runner_kills;
    }
  }
  for (std::int64_t id : ids) {
    ASSERT_TRUE(Finished(store.get(), id, 60'000)) << "job " << id << "\n" << d.Log().substr(0, 20000);
    EXPECT_EQ(store->Get(id)->state, JobState::kSucceeded) << id;
  }
  std::map<std::string, int> runs = CountRuns(work_.path() + "/runs.log");
  EXPECT_EQ(runs["overlap"], 0);
  EXPECT_GE(runs["end"], static_cast<int>(ids.size()));
  EXPECT_GT(runner_kills, 5);
  EXPECT_GT(worker_kills, 0);
  std::printf("%zu jobs, runner kills %d, worker kills %d, attempts started %d, overlapping %d\n", ids.size(),
              runner_kills, worker_kills, runs["start"], runs["overlap"]);
}

// max_jobs: a runner that ran its jobs finishes the ones it holds, exits when its input ends and
// is replaced; no job is lost or fails meanwhile.
TEST_P(RunnerTest, RecyclingAfterMaxJobsLosesNothing) {
  std::string config = AppConfig(GetParam(), work_.path());
  config.replace(config.find("[jobs.echo]"), 0, "max_jobs = 3\n");
  Daemon d(config);
  ASSERT_TRUE(d.Start()) << d.Log();
  auto store = d.Store();
  std::vector<std::int64_t> ids;
  for (int i = 0; i < 10; ++i) ids.push_back(Enqueue(store.get(), "echo", R"({"ms":5})", 1));
  std::map<int, int> per_pid;  // jobs each runner process ran
  for (std::int64_t id : ids) {
    ASSERT_TRUE(Finished(store.get(), id)) << d.Log();
    Job j = *store->Get(id);
    EXPECT_EQ(j.state, JobState::kSucceeded) << j.errors;
    per_pid[nlohmann::json::parse(j.result.value_or("{}")).value("pid", 0)]++;
  }
  if (GetParam() == "process") {
    EXPECT_GE(per_pid.size(), 2u);
    // Past max_jobs it gets no more: at most the 4 (concurrency) it held then finish there.
    for (auto [pid, n] : per_pid) EXPECT_LE(n, 3 + 4) << pid;
  }
  std::string log = d.Log();
  EXPECT_NE(log.find("recycling: ran 3 jobs (max_jobs)"), std::string::npos) << log;
  EXPECT_NE(log.find("(retired)"), std::string::npos) << log;
}

class BadRunnerTest : public ::testing::TestWithParam<std::pair<std::string, std::string>> {};

INSTANTIATE_TEST_SUITE_P(
    Modes, BadRunnerTest,
    ::testing::Values(std::pair<std::string, std::string>{"garbage", "bad line (not JSON): this is not json"},
                      std::pair<std::string, std::string>{"unknown_id", "which it does not hold"},
                      std::pair<std::string, std::string>{"huge", "wrote a line longer than 16MiB"},
                      std::pair<std::string, std::string>{"second_hello", "a second hello"},
                      std::pair<std::string, std::string>{"exit", "exit status 3"}),
    [](const auto& info) { return info.param.first; });

// A runner that breaks the protocol is killed with a clear log line and started again; the job
// it held spends one attempt and runs on the next runner.
TEST_P(BadRunnerTest, IsRestartedAndNothingIsLost) {
  TempDir work;
  Daemon d(R"(
[pools.default]
workers = 1
[runners.bad]
command = ["/usr/bin/python3", ")" +
               kSource + "/tests/integration/bad_runner.py\", \"" + GetParam().first + "\", \"" +
               work.path() +
               R"(/marker"]
[jobs.bad]
runner = "bad"
retry_delay = "10ms"
)",
           "restart_delay = \"100ms\"\n");
  ASSERT_TRUE(d.Start()) << d.Log();
  auto store = d.Store();
  std::int64_t id = Enqueue(store.get(), "bad");
  ASSERT_TRUE(Finished(store.get(), id)) << d.Log();
  Job j = *store->Get(id);
  EXPECT_EQ(j.state, JobState::kSucceeded) << j.errors;
  EXPECT_EQ(j.attempts, 2);
  EXPECT_EQ(j.result, R"({"attempt":2})");
  EXPECT_NE(d.Log().find(GetParam().second), std::string::npos) << d.Log();
}

// A broken deploy: a runner that cannot start (no program) or dies before its hello (an
// ImportError) says why in the log, backs off, and charges the jobs handed to it nothing: they
// wait, and run once the runner is fixed.
TEST(RunnerStartTest, ARunnerThatCannotStartChargesItsJobsNothing) {
  TempDir work;
  const std::string fixed = work.path() + "/fixed";
  Daemon d(R"(
[pools.default]
workers = 1
[runners.gone]
command = ["/nonexistent/runner"]
[runners.app]
command = ["/bin/sh", "-c", "test -e )" +
               fixed + R"( || { echo cannot load the app >&2; exit 4; }; exec /usr/bin/python3 )" + kSource +
               "/tests/integration/runner_app.py process " + work.path() + R"("]
env = { PYTHONPATH = ")" +
               kSource + R"(/clients/python" }
[jobs.a]
runner = "gone"
max_attempts = 1
[jobs.echo]
runner = "app"
max_attempts = 1
)",
           "restart_delay = \"100ms\"\nrestart_delay_max = \"400ms\"\n");
  ASSERT_TRUE(d.Start()) << d.Log();
  auto store = d.Store();
  std::int64_t a = Enqueue(store.get(), "a", "{}", 1), echo = Enqueue(store.get(), "echo", "{\"x\": 1}", 1);
  auto count = [&](const std::string& what) {
    std::string log = d.Log();
    size_t n = 0;
    for (size_t at = log.find(what); at != std::string::npos; at = log.find(what, at + 1)) ++n;
    return n;
  };
  ASSERT_TRUE(
      WaitFor([&] { return count("exit status 4; its last stderr: cannot load the app") >= 5; }, 20'000))
      << d.Log();
  EXPECT_GE(count("runner gone cannot start"), 2u) << d.Log();
  EXPECT_NE(d.Log().find("/nonexistent/runner"), std::string::npos);
  EXPECT_NE(d.Log().find("back to the queue, no attempt spent"), std::string::npos) << d.Log();
  // droverctl status says so (and the dashboard and /metrics, from the same report).
  auto runner = [&](const std::string& name) {
    nlohmann::json p = d.Process("worker:default:0");
    for (const auto& r : p.value("runners", nlohmann::json::array()))
      if (r["name"] == name) return r;
    return nlohmann::json();
  };
  EXPECT_TRUE(WaitFor(
      [&] {
        nlohmann::json r = runner("app");
        return r.is_object() && r["state"] == "backoff" && r["failures"].get<int>() >= 5 &&
               r["last_error"].get<std::string>().find("cannot load the app") != std::string::npos;
      },
      5000))
      << d.Process("worker:default:0").dump();
  ShellResult status = Ctl(d, "status");
  EXPECT_NE(status.out.find("runner gone"), std::string::npos) << status.out;
  EXPECT_NE(status.out.find("failed start(s)"), std::string::npos) << status.out;
  for (std::int64_t id : {a, echo}) {
    Job j = *store->Get(id);
    EXPECT_TRUE(j.state == JobState::kQueued || j.state == JobState::kRunning) << JobStateName(j.state);
    EXPECT_LE(j.attempts, 1) << "only a claim under way counts";
    EXPECT_EQ(j.errors, "[]");
  }
  std::ofstream(fixed) << "";
  ASSERT_TRUE(Finished(store.get(), echo, 20'000)) << d.Log();
  Job j = *store->Get(echo);
  EXPECT_EQ(j.state, JobState::kSucceeded) << j.errors;
  EXPECT_EQ(j.attempts, 1);
  EXPECT_EQ(runner("app")["state"], "ready");
  EXPECT_EQ(runner("app")["failures"], 0);
  EXPECT_TRUE(store->Cancel(a).ok());
  EXPECT_EQ(WEXITSTATUS(d.Stop()), 0);
}

// The protocol is the language's business: the Node.js example runner.
TEST(NodeRunnerTest, ResultsProgressCheckpointsAndPermanentFailures) {
  Daemon d(R"(
[pools.default]
workers = 1
[runners.node]
command = ["/usr/bin/node", ")" +
           kSource + R"(/examples/runners/node/runner.js"]
[jobs.shout]
runner = "node"
[jobs.count]
runner = "node"
[jobs.refuse]
runner = "node"
)");
  ASSERT_TRUE(d.Start()) << d.Log();
  auto store = d.Store();
  std::int64_t shout = Enqueue(store.get(), "shout", R"({"text":"hello"})");
  std::int64_t count = Enqueue(store.get(), "count", R"({"to":5})");
  std::int64_t refuse = Enqueue(store.get(), "refuse", "{}");
  for (std::int64_t id : {shout, count, refuse}) ASSERT_TRUE(Finished(store.get(), id)) << d.Log();
  EXPECT_EQ(store->Get(shout)->result, R"({"text":"HELLO"})");
  Job c = *store->Get(count);
  EXPECT_EQ(c.state, JobState::kSucceeded) << c.errors;
  EXPECT_EQ(c.result, R"({"attempt":1,"counted":5})");
  EXPECT_EQ(c.checkpoint, R"({"i":5})");
  EXPECT_EQ(c.progress_message, "5/5");
  Job r = *store->Get(refuse);
  EXPECT_EQ(r.state, JobState::kFailed);
  EXPECT_EQ(r.attempts, 1);
  EXPECT_NE(r.last_error.value_or("").find("Error: refused"), std::string::npos) << r.last_error.value_or("");
}

// examples/app (the README's Python example) runs as configured, its schedule included.
TEST(ExampleAppTest, HandlersAndScheduleRun) {
  std::ifstream in(kSource + "/examples/app/drover.toml");
  std::string body, line;
  bool in_supervisor = false;
  while (std::getline(in, line)) {  // the test's [supervisor] replaces the example's
    if (!line.empty() && line[0] == '[') in_supervisor = line == "[supervisor]";
    if (!in_supervisor) body += line + "\n";
  }
  size_t every = body.find("every = \"1m\"");
  ASSERT_NE(every, std::string::npos);
  body.replace(every, 12, "every = \"1s\"");
  body.replace(body.find("command = [\"jobs.py\"]"), 21,
               "command = [\"" + kSource + "/examples/app/jobs.py\"]");
  TempDir data;  // the application's own database
  body.replace(body.find("[jobs.welcome]"), 0, "env = { APP_DATA = \"" + data.path() + "\" }\n");
  Daemon d(body);
  ASSERT_TRUE(d.Start()) << d.Log();
  auto store = d.Store();
  std::int64_t id = Enqueue(store.get(), "welcome", R"({"name":"Ada"})");
  ASSERT_TRUE(Finished(store.get(), id)) << d.Log();
  EXPECT_EQ(store->Get(id)->result, R"({"greeted":"Ada"})");
  std::int64_t bad = Enqueue(store.get(), "welcome", "{}");
  ASSERT_TRUE(Finished(store.get(), bad)) << d.Log();
  EXPECT_EQ(store->Get(bad)->last_error, "the payload needs a name");
  JobFilter digests;
  digests.types = {"daily_digest"};
  digests.states = {JobState::kSucceeded};
  ASSERT_TRUE(WaitFor([&] { return !store->List(digests)->empty(); }, 10'000)) << d.Log();
}

}  // namespace
}  // namespace drover::testing
