// The supervisor's process lifecycle against the real droverd: kills between a job's spawn and
// its report, stop/start races, stale timers, an idle loop, and a socket another daemon holds.
#include <gtest/gtest.h>
#include <stdlib.h>
#include <sys/stat.h>

#include "tests/integration/ctl.h"
#include "tests/integration/daemon.h"

namespace drover::testing {
namespace {

char ProcState(pid_t pid) {
  std::string stat = ReadFile("/proc/" + std::to_string(pid) + "/stat");
  size_t paren = stat.rfind(')');
  return paren == std::string::npos || paren + 2 >= stat.size() ? '?' : stat[paren + 2];
}

// utime + stime of `pid` in clock ticks.
long CpuTicks(pid_t pid) {
  std::string stat = ReadFile("/proc/" + std::to_string(pid) + "/stat");
  std::istringstream in(stat.substr(stat.rfind(')') + 2));
  std::string field;
  long utime = 0, stime = 0;
  for (int i = 3; i <= 15 && in >> field; ++i) {
    if (i == 14) utime = std::stol(field);
    if (i == 15) stime = std::stol(field);
  }
  return utime + stime;
}

// A worker killed after it started a job's process and before it told the supervisor about it:
// the job's processes (here a subshell the job started, which PDEATHSIG does not reach) must be
// dead before the job runs again.
TEST(LifecycleTest, AWorkerKilledBetweenSpawnAndReportLeavesNoJobProcessRunning) {
  Daemon d("", "restart_delay = \"0s\"\n");
  std::string log = d.dir() + "/work.log";
  std::ofstream(d.config(), std::ios::app) << R"(
[pools.default]
workers = 1
concurrency = 1

[jobs.work]
command = ["/bin/sh", "-c", "(echo start $DROVER_ATTEMPT >> $LOG; sleep 1.5; echo end $DROVER_ATTEMPT >> $LOG) ; wait"]
env = { LOG = ")" << log << "\" }\n";
  ASSERT_TRUE(d.StartStoppingAfterSpawn()) << d.Log();
  auto store = d.Store();
  std::int64_t id = Enqueue(store.get(), "work");
  pid_t worker = d.PidOf("worker:default:0");
  ASSERT_TRUE(WaitFor(
      [&] { return ReadFile(log).find("start 1") != std::string::npos && ProcState(worker) == 'T'; }, 5000))
      << d.Log();
  ASSERT_EQ(kill(worker, SIGKILL), 0);
  ASSERT_TRUE(WaitFor([&] { return store->Get(id)->state == JobState::kSucceeded; }, 10'000)) << d.Log();
  std::this_thread::sleep_for(std::chrono::milliseconds(2000));  // attempt 1 would have ended by now
  std::string lines = ReadFile(log);
  // Killed as an orphan of droverd, or with the job's cgroup where droverd can create those.
  EXPECT_EQ(lines, "start 1\nstart 2\nend 2\n") << d.Log();
  EXPECT_EQ(WEXITSTATUS(d.Stop()), 0);
}

const char* kOneWorker = R"(
[pools.default]
workers = 1
concurrency = 1

[jobs.sleepy]
command = ["/bin/sh", "-c", "sleep ${SLEEP:-2}"]
env = { SLEEP = "2" }
)";

// The SIGKILL deadline of a stop belongs to that stop: a process started afterwards is left alone.
TEST(LifecycleTest, AStopsKillDeadlineDoesNotReachTheNextProcess) {
  Daemon d(kOneWorker, "shutdown_timeout = \"500ms\"\n");
  ASSERT_TRUE(d.Start()) << d.Log();
  ASSERT_EQ(d.Request("stop", {"worker:default:0"})["ok"], true);
  std::int64_t stopped_at = MonotonicUs();
  ASSERT_TRUE(WaitFor([&] { return d.Process("worker:default:0")["state"] == "STOPPED"; }, 5000));
  ASSERT_EQ(d.Request("start", {"worker:default:0"})["ok"], true);
  ASSERT_TRUE(WaitFor([&] { return d.Process("worker:default:0")["state"] == "RUNNING"; }, 5000));
  pid_t pid = d.PidOf("worker:default:0");
  // The old deadline was stop + shutdown_timeout + 10 s.
  std::int64_t past = stopped_at + 12'000'000 - MonotonicUs();
  std::this_thread::sleep_for(std::chrono::microseconds(std::max<std::int64_t>(past, 0)));
  EXPECT_TRUE(Alive(pid));
  EXPECT_EQ(d.PidOf("worker:default:0"), pid);
  EXPECT_EQ(d.Log().find("did not stop in time"), std::string::npos) << d.Log();
  EXPECT_EQ(WEXITSTATUS(d.Stop()), 0);
}

// A start while the process is still finishing its jobs is remembered and carried out.
TEST(LifecycleTest, AStartWhileStoppingIsCarriedOutOnceTheOldProcessHasGone) {
  Daemon d(kOneWorker, "shutdown_timeout = \"10s\"\n");
  ASSERT_TRUE(d.Start()) << d.Log();
  auto store = d.Store();
  std::int64_t id = Enqueue(store.get(), "sleepy");
  ASSERT_TRUE(WaitFor([&] { return store->Get(id)->pid.has_value(); }, 5000));
  pid_t old = d.PidOf("worker:default:0");
  ASSERT_EQ(Ctl(d, "stop worker:default:0").code, 0);
  ShellResult r = Ctl(d, "start all");
  EXPECT_EQ(r.code, 0);
  EXPECT_NE(r.out.find("worker:default:0: starts once stopped"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("scheduler: already running"), std::string::npos) << r.out;
  ASSERT_TRUE(WaitFor([&] { return store->Get(id)->state == JobState::kSucceeded; }, 10'000));
  ASSERT_TRUE(WaitFor([&] { return d.Process("worker:default:0")["state"] == "RUNNING"; }, 5000)) << d.Log();
  EXPECT_NE(d.PidOf("worker:default:0"), old);
  EXPECT_EQ(WEXITSTATUS(d.Stop()), 0);
}

// After a stop nothing is due: the supervisor sleeps instead of polling.
TEST(LifecycleTest, AnIdleDroverdAfterAStopUsesUnderOnePercentOfACore) {
  Daemon d(kOneWorker, "spare = false\nlog_level = \"info\"\nshutdown_timeout = \"500ms\"\n");
  ASSERT_TRUE(d.Start()) << d.Log();
  ASSERT_EQ(d.Request("stop", {"worker:default:0"})["ok"], true);
  std::int64_t stopped_at = MonotonicUs();
  ASSERT_TRUE(WaitFor([&] { return d.Process("worker:default:0")["state"] == "STOPPED"; }, 5000));
  // Measured after the point where a stop's SIGKILL deadline (stop + shutdown_timeout + 10 s)
  // would have passed.
  std::int64_t past = stopped_at + 11'000'000 - MonotonicUs();
  std::this_thread::sleep_for(std::chrono::microseconds(std::max<std::int64_t>(past, 0)));
  long before = CpuTicks(d.pid());
  std::int64_t t0 = MonotonicUs();
  std::this_thread::sleep_for(std::chrono::milliseconds(2000));
  double cpu_s = static_cast<double>(CpuTicks(d.pid()) - before) / static_cast<double>(sysconf(_SC_CLK_TCK));
  double wall_s = static_cast<double>(MonotonicUs() - t0) / 1e6;
  EXPECT_LT(cpu_s / wall_s, 0.01) << cpu_s << " s of CPU in " << wall_s << " s";
  EXPECT_EQ(WEXITSTATUS(d.Stop()), 0);
}

// A second droverd (on another database) must not bind over a socket the first one serves.
TEST(LifecycleTest, ASecondDroverdDoesNotTakeOverALiveSocket) {
  Daemon first(kOneWorker);
  ASSERT_TRUE(first.Start()) << first.Log();
  TempDir dir;
  std::string config = dir.path() + "/drover.toml";
  std::ofstream(config) << "[supervisor]\ndatabase = \"other.db\"\nsocket = \"" << first.socket() << "\"\n"
                        << kOneWorker;
  // `timeout`: a droverd that took the socket over would run on.
  ShellResult second = RunShell("timeout 10 " + std::string(DROVERD_PATH) + " -c " + config + " 2>&1");
  EXPECT_EQ(second.code, 1);
  EXPECT_NE(second.out.find("another process answers on control socket " + first.socket()), std::string::npos)
      << second.out;
  EXPECT_TRUE(std::filesystem::exists(first.socket()));
  EXPECT_TRUE(first.AllRunning());
  EXPECT_EQ(WEXITSTATUS(first.Stop()), 0);
}

TEST(LifecycleTest, AFileThatIsNotASocketIsNotDeleted) {
  Daemon d(kOneWorker);
  std::ofstream(d.socket()) << "precious";
  ShellResult r = RunShell("timeout 10 " + std::string(DROVERD_PATH) + " -c " + d.config() + " 2>&1");
  EXPECT_EQ(r.code, 1);
  EXPECT_EQ(ReadFile(d.socket()), "precious");
  EXPECT_NE(r.out.find("exists and is not a socket"), std::string::npos) << r.out;
}

TEST(LifecycleTest, OperatorVerbsSayWhatHappened) {
  Daemon d(kOneWorker);
  ASSERT_TRUE(d.Start()) << d.Log();
  ShellResult r = Ctl(d, "tail nope");
  EXPECT_EQ(r.code, 3) << r.out;
  EXPECT_NE(r.out.find("no such process: nope"), std::string::npos) << r.out;
  r = Ctl(d, "start all");
  EXPECT_EQ(r.code, 0);
  EXPECT_NE(r.out.find("worker:default:0: already running"), std::string::npos) << r.out;
  r = Ctl(d, "stop worker:default:0");
  EXPECT_NE(r.out.find("worker:default:0: stopping"), std::string::npos) << r.out;
  std::string text = ReadFile(d.config());
  text.replace(text.find("drover.sock"), 11, "other.sock");
  d.RewriteConfig(text);
  nlohmann::json reread = d.Request("reread");
  ASSERT_EQ(reread["ok"], true) << reread.dump();
  EXPECT_EQ(reread["result"]["restart_required"], nlohmann::json::array({"socket"})) << reread.dump();
  EXPECT_EQ(WEXITSTATUS(d.Stop()), 0);
}

}  // namespace
}  // namespace drover::testing
