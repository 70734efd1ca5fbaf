// Black-box tests of running jobs: real command processes and in-process handlers under a
// real droverd.
#include <gtest/gtest.h>

#include <sstream>
#include <thread>

#include "tests/integration/daemon.h"

namespace drover::testing {
namespace {

TEST(CommandJobTest, PayloadOnStdinEnvironmentAndResult) {
  Daemon d(R"(
[pools.default]
workers = 1
[jobs.echo]
command = ["/bin/sh", "-c", "printf '%s|%s|%s|%s|%s|' \"$DROVER_JOB_ID\" \"$DROVER_JOB_TYPE\" \"$DROVER_ATTEMPT\" \"$DROVER_QUEUE\" \"$GREETING\"; cat"]
env = { GREETING = "hi" }
)");
  ASSERT_TRUE(d.Start()) << d.Log();
  auto store = d.Store();
  std::int64_t id = Enqueue(store.get(), "echo", R"({"n":1})");
  ASSERT_TRUE(Finished(store.get(), id)) << d.Log();
  Job j = *store->Get(id);
  EXPECT_EQ(j.state, JobState::kSucceeded) << j.last_error.value_or("");
  EXPECT_EQ(j.result, std::to_string(id) + "|echo|1|default|hi|{\"n\":1}");
}

// The worker ignores SIGPIPE (and the daemon may have been started ignoring more): a job starts
// with every signal at its default, unblocked. (No shell in between: one waiting for its child
// blocks every signal meanwhile.)
TEST(CommandJobTest, JobGetsDefaultSignalsWhateverTheWorkerIgnores) {
  Daemon d(R"(
[pools.default]
workers = 1
[jobs.signals]
command = ["/bin/grep", "-E", "^Sig(Ign|Blk):", "/proc/self/status"]
)");
  ASSERT_TRUE(d.Start()) << d.Log();
  auto store = d.Store();
  for (int i = 0; i < 2; ++i) {  // the second spawn too (the ignored set is read once)
    std::int64_t id = Enqueue(store.get(), "signals", "{}");
    ASSERT_TRUE(Finished(store.get(), id)) << d.Log();
    Job j = *store->Get(id);
    EXPECT_EQ(j.state, JobState::kSucceeded) << j.last_error.value_or("");
    EXPECT_EQ(j.result, "SigBlk:\t0000000000000000\nSigIgn:\t0000000000000000\n");
  }
}

// A failed attempt's error keeps the end of stderr and of stdout, within max_output exactly.
TEST(CommandJobTest, AFailuresErrorHoldsBothTailsWithinMaxOutput) {
  Daemon d(R"(
[pools.default]
workers = 1
[jobs.noisy]
command = ["/bin/sh", "-c", "head -c 1000000 /dev/zero | tr '\\0' e >&2; echo last-err >&2; echo out-line; exit 3"]
max_output = "64KiB"
permanent_exit_codes = [3]
)");
  ASSERT_TRUE(d.Start()) << d.Log();
  auto store = d.Store();
  std::int64_t id = Enqueue(store.get(), "noisy", "{}");
  ASSERT_TRUE(Finished(store.get(), id)) << d.Log();
  Job j = *store->Get(id);
  EXPECT_EQ(j.state, JobState::kFailed);
  ASSERT_TRUE(j.last_error);
  EXPECT_LE(j.last_error->size(), 64u << 10);
  EXPECT_GT(j.last_error->size(), 60u << 10);
  EXPECT_EQ(j.last_error->rfind("exit code 3: […]eee", 0), 0u) << j.last_error->substr(0, 100);
  EXPECT_NE(j.last_error->find("last-err\n\n[stdout] out-line"), std::string::npos)
      << j.last_error->substr(j.last_error->size() - 100);
}

TEST(CommandJobTest, JobGetsBlockingDescriptorsAndNoStrayOnes) {
  Daemon d(R"(
[pools.default]
workers = 1
[jobs.fds]
command = ["/bin/sh", "-c", "for f in 0 1 2 3; do sed -n 's/^flags:[[:space:]]*//p' /proc/$$/fdinfo/$f; done; ls /proc/self/fd | wc -l"]
)");
  ASSERT_TRUE(d.Start()) << d.Log();
  auto store = d.Store();
  std::int64_t id = Enqueue(store.get(), "fds");
  ASSERT_TRUE(Finished(store.get(), id)) << d.Log();
  Job j = *store->Get(id);
  ASSERT_EQ(j.state, JobState::kSucceeded) << j.last_error.value_or("");
  std::istringstream in(*j.result);
  for (int fd = 0; fd < 4; ++fd) {
    std::string flags;
    in >> flags;
    EXPECT_EQ(std::stol(flags, nullptr, 8) & 04000, 0) << "fd " << fd << " is non-blocking";
  }
  int open_fds = 0;
  in >> open_fds;
  EXPECT_EQ(open_fds, 5);  // ls: 0-3 inherited, plus the one it reads /proc/self/fd with
}

TEST(CommandJobTest, FailureIsRetriedThenSucceeds) {
  Daemon d(R"(
[pools.default]
workers = 1
[jobs.flaky]
command = ["/bin/sh", "-c", "if [ \"$DROVER_ATTEMPT\" -lt 2 ]; then echo 'not yet' >&2; exit 3; fi; echo ok"]
retry_delay = "100ms"
)");
  ASSERT_TRUE(d.Start()) << d.Log();
  auto store = d.Store();
  std::int64_t id = Enqueue(store.get(), "flaky");
  ASSERT_TRUE(Finished(store.get(), id)) << d.Log();
  Job j = *store->Get(id);
  EXPECT_EQ(j.state, JobState::kSucceeded);
  EXPECT_EQ(j.attempts, 2);
  nlohmann::json errors = nlohmann::json::parse(j.errors);
  ASSERT_EQ(errors.size(), 1u);
  EXPECT_EQ(errors[0]["error"], "exit code 3: not yet\n");
}

TEST(CommandJobTest, PermanentExitCodeFailsAtOnce) {
  Daemon d(R"(
[pools.default]
workers = 1
[jobs.bad]
command = ["/bin/sh", "-c", "exit 64"]
permanent_exit_codes = [64]
)");
  ASSERT_TRUE(d.Start()) << d.Log();
  auto store = d.Store();
  std::int64_t id = Enqueue(store.get(), "bad");
  ASSERT_TRUE(Finished(store.get(), id)) << d.Log();
  Job j = *store->Get(id);
  EXPECT_EQ(j.state, JobState::kFailed);
  EXPECT_EQ(j.attempts, 1);
  EXPECT_EQ(j.last_error, "exit code 64");
}

TEST(CommandJobTest, TimeoutKillsTheWholeGroupIncludingStubbornGrandchildren) {
  Daemon d(R"(
[pools.default]
workers = 1
[jobs.stuck]
command = ["/bin/sh", "-c", "(trap '' TERM; echo $$ > \"$PIDFILE\"; exec sleep 60) & sleep 60"]
timeout = "300ms"
kill_after = "200ms"
max_attempts = 1
)");
  std::string pidfile = d.dir() + "/grandchild.pid";
  // The env table is per job type; append it now that the directory is known.
  std::ofstream(d.config(), std::ios::app) << "env = { PIDFILE = \"" << pidfile << "\" }\n";
  ASSERT_TRUE(d.Start()) << d.Log();
  auto store = d.Store();
  std::int64_t id = Enqueue(store.get(), "stuck", "{}", 1);
  ASSERT_TRUE(Finished(store.get(), id)) << d.Log();
  Job j = *store->Get(id);
  EXPECT_EQ(j.state, JobState::kFailed);
  EXPECT_EQ(j.last_error, "timed out after 300ms");
  pid_t grandchild = 0;
  std::ifstream(pidfile) >> grandchild;
  ASSERT_GT(grandchild, 0);
  EXPECT_TRUE(WaitFor([&] { return !Alive(grandchild); }, 2000))
      << "grandchild " << grandchild << " survived";
}

TEST(CommandJobTest, CancelOfARunningJobStopsItsGroup) {
  Daemon d(R"(
[pools.default]
workers = 1
[jobs.long]
command = ["/bin/sh", "-c", "sleep 30"]
)");
  ASSERT_TRUE(d.Start()) << d.Log();
  auto store = d.Store();
  std::int64_t id = Enqueue(store.get(), "long");
  ASSERT_TRUE(WaitFor([&] { return store->Get(id)->pid.has_value(); }, 5000));
  pid_t pid = static_cast<pid_t>(*store->Get(id)->pid);
  ASSERT_EQ(*store->Cancel(id), JobState::kRunning);
  ASSERT_TRUE(Finished(store.get(), id, 5000)) << d.Log();
  EXPECT_EQ(store->Get(id)->state, JobState::kCancelled);
  EXPECT_FALSE(Alive(pid));
}

TEST(CommandJobTest, OutputIsBoundedAndTruncationMarked) {
  Daemon d(R"(
[pools.default]
workers = 1
[jobs.chatty]
command = ["/bin/sh", "-c", "head -c 100000 /dev/zero | tr '\\0' 'x'"]
max_output = "1KiB"
)");
  ASSERT_TRUE(d.Start()) << d.Log();
  auto store = d.Store();
  std::int64_t id = Enqueue(store.get(), "chatty");
  ASSERT_TRUE(Finished(store.get(), id)) << d.Log();
  Job j = *store->Get(id);
  EXPECT_EQ(j.state, JobState::kSucceeded);
  EXPECT_EQ(j.result->substr(0, 1024), std::string(1024, 'x'));
  EXPECT_NE(j.result->find("[output truncated at 1KiB]"), std::string::npos);
  EXPECT_LT(j.result->size(), 1100u);
}

TEST(CommandJobTest, CheckpointSurvivesAKilledWorker) {
  Daemon d(R"(
[pools.default]
workers = 1
[jobs.steps]
command = ["/bin/sh", "-c", "i=${DROVER_CHECKPOINT#*:}; i=${i%\\}}; [ -n \"$DROVER_CHECKPOINT\" ] || i=0; echo \"start $i\" >&2; while [ $i -lt 6 ]; do i=$((i+1)); echo \"{\\\"progress\\\":0.1,\\\"checkpoint\\\":{\\\"i\\\":$i}}\" >&3; sleep 0.3; done; echo \"from ${DROVER_CHECKPOINT:-scratch}\""]
)",
           "restart_delay = \"100ms\"\n");
  ASSERT_TRUE(d.Start()) << d.Log();
  auto store = d.Store();
  std::int64_t id = Enqueue(store.get(), "steps");
  ASSERT_TRUE(WaitFor(
      [&] {
        return store->Get(id)->checkpoint.has_value() &&
               *store->Get(id)->checkpoint >= std::string("{\"i\":3}");
      },
      10'000))
      << d.Log();
  ASSERT_EQ(kill(d.PidOf("worker:default:0"), SIGKILL), 0);
  ASSERT_TRUE(Finished(store.get(), id, 15'000)) << d.Log();
  Job j = *store->Get(id);
  EXPECT_EQ(j.state, JobState::kSucceeded);
  EXPECT_EQ(j.attempts, 2);
  ASSERT_TRUE(j.result.has_value());
  EXPECT_NE(j.result->find("from {\"i\":"), std::string::npos) << *j.result;
}

TEST(CommandJobTest, ConcurrencyRunsNJobsAtOnce) {
  Daemon d(R"(
[pools.default]
workers = 1
concurrency = 4
[jobs.nap]
command = ["/bin/sh", "-c", "echo start >> \"$LOG\"; sleep 1; echo end >> \"$LOG\""]
)");
  std::string log = d.dir() + "/naps.log";
  std::ofstream(d.config(), std::ios::app) << "env = { LOG = \"" << log << "\" }\n";
  ASSERT_TRUE(d.Start()) << d.Log();
  auto store = d.Store();
  std::vector<std::int64_t> ids;
  for (int i = 0; i < 4; ++i) ids.push_back(Enqueue(store.get(), "nap"));
  for (std::int64_t id : ids) ASSERT_TRUE(Finished(store.get(), id, 5000));
  // Every job started before any ended: all four ran at once.
  std::ifstream in(log);
  std::vector<std::string> lines;
  for (std::string l; std::getline(in, l);) lines.push_back(l);
  ASSERT_EQ(lines.size(), 8u);
  for (int i = 0; i < 4; ++i) EXPECT_EQ(lines[i], "start") << i;
}

// Once jobs prove short, a claim takes more than the free slots. Jobs claimed ahead that a long
// job keeps from starting go back to the queue uncharged, without a history entry, and no more
// are claimed ahead until the slot frees up; then they run once each.
TEST(CommandJobTest, JobsClaimedAheadOfABusySlotGoBackUncharged) {
  Daemon d(R"(
[pools.default]
workers = 1
concurrency = 1
[jobs.quick]
command = ["/bin/true"]
[jobs.slow]
command = ["/bin/sleep", "1.5"]
)",
           "log_level = \"debug\"\n");
  ASSERT_TRUE(d.Start()) << d.Log();
  auto store = d.Store();
  // Claims go ahead only while jobs average under 20 ms (kShortJobUs). A machine so loaded that
  // even /bin/true takes longer runs none ahead, by design: then there is nothing to test here.
  double average_ms = 0;
  for (int round = 0; round < 5; ++round) {
    std::vector<std::int64_t> warmup;
    for (int i = 0; i < 20; ++i) warmup.push_back(Enqueue(store.get(), "quick"));
    double total_ms = 0;
    for (std::int64_t id : warmup) {
      ASSERT_TRUE(Finished(store.get(), id)) << d.Log();
      Job j = *store->Get(id);
      total_ms += static_cast<double>(j.finished_at_ms.value_or(0) - j.started_at_ms.value_or(0));
    }
    average_ms = total_ms / 20;
    if (average_ms < 10) break;
  }
  if (average_ms >= 15) GTEST_SKIP() << "/bin/true took " << average_ms << " ms on average here";

  ASSERT_TRUE(store->SetQueuePaused("default", true).ok());
  EnqueueRequest slow;
  slow.type = "slow";
  slow.priority = 10;
  std::int64_t slow_id = store->Enqueue(slow)->id;
  std::vector<std::int64_t> quick;
  for (int i = 0; i < 5; ++i) quick.push_back(Enqueue(store.get(), "quick"));
  ASSERT_TRUE(store->SetQueuePaused("default", false).ok());
  ASSERT_TRUE(WaitFor([&] { return d.Log().find("claimed ahead waited") != std::string::npos; }, 5000))
      << d.Log();
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  EXPECT_EQ(store->Get(slow_id)->state, JobState::kRunning);
  for (std::int64_t id : quick) {
    Job j = *store->Get(id);
    EXPECT_EQ(j.state, JobState::kQueued) << id;
    EXPECT_EQ(j.attempts, 0) << id;
    EXPECT_FALSE(j.worker.has_value()) << id;
    EXPECT_EQ(j.errors, "[]") << id;
  }
  ASSERT_TRUE(Finished(store.get(), slow_id)) << d.Log();
  for (std::int64_t id : quick) {
    ASSERT_TRUE(Finished(store.get(), id)) << d.Log();
    Job j = *store->Get(id);
    EXPECT_EQ(j.state, JobState::kSucceeded) << id;
    EXPECT_EQ(j.attempts, 1) << id;
  }
}

TEST(CommandJobTest, EnvelopeOnStdinCarriesTheCheckpointIntoTheNextAttempt) {
  Daemon d(R"(
[pools.default]
workers = 1
[jobs.resume]
command = ["/bin/sh", "-c", "if [ \"$DROVER_ATTEMPT\" = 1 ]; then echo '{\"checkpoint\":{\"page\":7}}' >&3; exit 1; fi; cat"]
stdin = "envelope"
retry_delay = "100ms"
)");
  ASSERT_TRUE(d.Start()) << d.Log();
  auto store = d.Store();
  std::int64_t id = Enqueue(store.get(), "resume", R"({"book":"x"})");
  ASSERT_TRUE(Finished(store.get(), id)) << d.Log();
  Job j = *store->Get(id);
  ASSERT_EQ(j.state, JobState::kSucceeded) << j.last_error.value_or("");
  nlohmann::json e = nlohmann::json::parse(j.result.value_or(""), nullptr, false);
  ASSERT_TRUE(e.is_object()) << j.result.value_or("");
  EXPECT_EQ(e["id"], id);
  EXPECT_EQ(e["type"], "resume");
  EXPECT_EQ(e["queue"], "default");
  EXPECT_EQ(e["attempt"], 2);
  EXPECT_EQ(e["max_attempts"], 5);
  EXPECT_EQ(e["payload"], nlohmann::json::parse(R"({"book":"x"})"));
  EXPECT_EQ(e["checkpoint"], nlohmann::json::parse(R"({"page":7})"));
}

TEST(CommandJobTest, AnOversizedCheckpointIsRefusedAndTheJobStillStarts) {
  // 140 KiB would not fit in DROVER_CHECKPOINT (exec fails with E2BIG past 128 KiB): refused
  // with a warning, and the next attempt gets the checkpoint before it.
  Daemon d(R"(
[pools.default]
workers = 1
[jobs.big]
command = ["/bin/sh", "-c", "if [ \"$DROVER_ATTEMPT\" = 1 ]; then echo '{\"checkpoint\":1}' >&3; printf '{\"checkpoint\":\"%0143360d\"}\\n' 0 >&3; exit 1; fi; echo \"got $DROVER_CHECKPOINT\""]
retry_delay = "100ms"
)");
  ASSERT_TRUE(d.Start()) << d.Log();
  auto store = d.Store();
  std::int64_t id = Enqueue(store.get(), "big");
  ASSERT_TRUE(Finished(store.get(), id)) << d.Log();
  Job j = *store->Get(id);
  EXPECT_EQ(j.state, JobState::kSucceeded) << j.last_error.value_or("");
  EXPECT_EQ(j.result, "got 1\n");
  EXPECT_NE(d.Log().find("over the limit of 64 KiB"), std::string::npos);
}

TEST(CommandJobTest, UserGroupLimitsAndWorkingDirectoryApply) {
  if (geteuid() != 0) GTEST_SKIP() << "user and group need droverd to run as root";
  Daemon d(R"toml(
[pools.default]
workers = 1
[jobs.who]
command = ["/bin/sh", "-c", "echo $(id -u) $(id -g) $(id -G) $(ulimit -n) $(ulimit -v) $(pwd)"]
user = "nobody"
group = "nogroup"
limit_nofile = 77
limit_as = "512MiB"
working_dir = "/tmp"
[jobs.stranger]
command = ["/bin/true"]
user = "no-such-user-here"
max_attempts = 1
)toml");
  ASSERT_TRUE(d.Start()) << d.Log();
  auto store = d.Store();
  std::int64_t id = Enqueue(store.get(), "who");
  std::int64_t stranger = Enqueue(store.get(), "stranger", "{}", 1);
  ASSERT_TRUE(Finished(store.get(), id)) << d.Log();
  Job j = *store->Get(id);
  ASSERT_EQ(j.state, JobState::kSucceeded) << j.last_error.value_or("");
  EXPECT_EQ(j.result, "65534 65534 65534 77 524288 /tmp\n");
  ASSERT_TRUE(Finished(store.get(), stranger)) << d.Log();
  j = *store->Get(stranger);
  EXPECT_EQ(j.state, JobState::kFailed);
  EXPECT_NE(j.last_error.value_or("").find("unknown user \"no-such-user-here\""), std::string::npos)
      << j.last_error.value_or("");
}

TEST(CommandJobTest, MissingProgramIsAClearFailedAttempt) {
  Daemon d(R"(
[pools.default]
workers = 1
[jobs.ghost]
command = ["/nonexistent/program"]
max_attempts = 1
)");
  ASSERT_TRUE(d.Start()) << d.Log();
  auto store = d.Store();
  std::int64_t id = Enqueue(store.get(), "ghost", "{}", 1);
  ASSERT_TRUE(Finished(store.get(), id)) << d.Log();
  Job j = *store->Get(id);
  EXPECT_EQ(j.state, JobState::kFailed);
  EXPECT_NE(j.last_error->find("/nonexistent/program"), std::string::npos) << *j.last_error;
}

TEST(CommandJobTest, UnknownJobTypeFailsPermanentlyNamingIt) {
  Daemon d("[pools.default]\nworkers = 1\n");
  ASSERT_TRUE(d.Start()) << d.Log();
  auto store = d.Store();
  std::int64_t id = Enqueue(store.get(), "mystery");
  ASSERT_TRUE(Finished(store.get(), id)) << d.Log();
  Job j = *store->Get(id);
  EXPECT_EQ(j.state, JobState::kFailed);
  EXPECT_EQ(j.attempts, 1);
  EXPECT_NE(j.last_error->find("unknown job type \"mystery\""), std::string::npos);
}

const char* kHandlers = R"(
[pools.default]
workers = 1
concurrency = 4
[jobs.noop]
[jobs.sleep]
[jobs.count]
[jobs.explode]
max_attempts = 2
retry_delay = "50ms"
)";

TEST(HandlerTest, InProcessHandlersRunAndReportResults) {
  Daemon d(kHandlers, "", EMBEDDED_PATH);
  ASSERT_TRUE(d.Start()) << d.Log();
  auto store = d.Store();
  std::int64_t noop = Enqueue(store.get(), "noop");
  std::int64_t sleep = Enqueue(store.get(), "sleep", R"({"ms":50})");
  ASSERT_TRUE(Finished(store.get(), noop));
  ASSERT_TRUE(Finished(store.get(), sleep));
  EXPECT_EQ(store->Get(noop)->state, JobState::kSucceeded);
  EXPECT_EQ(store->Get(sleep)->result, R"({"slept_ms":50})");
}

TEST(HandlerTest, ThrowingHandlerIsAFailedAttemptWithTheMessage) {
  Daemon d(kHandlers, "", EMBEDDED_PATH);
  ASSERT_TRUE(d.Start()) << d.Log();
  auto store = d.Store();
  std::int64_t id = Enqueue(store.get(), "explode", "{}", 2);
  ASSERT_TRUE(Finished(store.get(), id)) << d.Log();
  Job j = *store->Get(id);
  EXPECT_EQ(j.state, JobState::kFailed);
  EXPECT_EQ(j.attempts, 2);
  EXPECT_EQ(j.last_error, "handler threw: boom");
}

TEST(HandlerTest, CancelReachesTheHandler) {
  Daemon d(kHandlers, "", EMBEDDED_PATH);
  ASSERT_TRUE(d.Start()) << d.Log();
  auto store = d.Store();
  std::int64_t id = Enqueue(store.get(), "sleep", R"({"ms":30000})");
  ASSERT_TRUE(WaitFor([&] { return store->Get(id)->state == JobState::kRunning; }, 5000));
  ASSERT_TRUE(store->Cancel(id).ok());
  ASSERT_TRUE(Finished(store.get(), id, 5000)) << d.Log();
  EXPECT_EQ(store->Get(id)->state, JobState::kCancelled);
}

TEST(HandlerTest, SlowHandlersRunConcurrently) {
  Daemon d(kHandlers, "", EMBEDDED_PATH);
  ASSERT_TRUE(d.Start()) << d.Log();
  auto store = d.Store();
  std::vector<EnqueueRequest> reqs(4);
  for (EnqueueRequest& r : reqs) {
    r.type = "sleep";
    r.payload = R"({"ms":800})";
  }
  Result<std::vector<EnqueueResult>> enqueued = store->EnqueueBatch(reqs);  // one claim takes all 4
  ASSERT_TRUE(enqueued.ok()) << enqueued.status().ToString();
  std::int64_t first = INT64_MAX, last = 0;
  for (const EnqueueResult& e : *enqueued) {
    ASSERT_TRUE(Finished(store.get(), e.id, 10'000));
    Job j = *store->Get(e.id);
    EXPECT_EQ(j.state, JobState::kSucceeded);
    first = std::min(first, *j.finished_at_ms);
    last = std::max(last, *j.finished_at_ms);
  }
  // One after another they would end 800 ms apart; side by side no job ends a run's length later
  // than another (a bound that does not depend on how loaded the machine is overall).
  EXPECT_LT(last - first, 800) << "the 4 handlers ran one after another";
}

TEST(HandlerTest, ConfigNamingAnUnregisteredHandlerIsRejectedAtStart) {
  Daemon d("[pools.default]\n[jobs.not_registered]\n");
  ShellResult r = RunShell(std::string(DROVERD_PATH) + " --check-config -c " + d.config() + " 2>&1");
  EXPECT_EQ(r.code, 1);
  EXPECT_NE(r.out.find("[jobs.not_registered] has no `command`"), std::string::npos) << r.out;
}

}  // namespace
}  // namespace drover::testing
