// Black-box tests of droverctl against a real droverd and database.
#include <gtest/gtest.h>
#include <signal.h>

#include <fstream>

#include "common/sqlite.h"
#include "tests/integration/ctl.h"
#include "tests/integration/daemon.h"

namespace drover::testing {
namespace {

const char* kConfig = R"(
[pools.default]
workers = 1
concurrency = 2
[jobs.echo]
command = ["/bin/cat"]
[jobs.fail]
command = ["/bin/sh", "-c", "echo nope >&2; exit 64"]
permanent_exit_codes = [64]
[jobs.once]
command = ["/bin/sh", "-c", "sleep 5"]
unique = true
)";

TEST(DroverctlTest, JobVerbsWorkWhileTheDaemonIsDown) {
  Daemon d(kConfig);
  ShellResult r = Ctl(d, "enqueue echo '{\"a\":1}' --json");
  ASSERT_EQ(r.code, 0) << r.out;
  nlohmann::json e = nlohmann::json::parse(r.out);
  EXPECT_EQ(e["state"], "queued");
  std::int64_t id = e["id"];
  r = Ctl(d, "show " + std::to_string(id) + " --json");
  ASSERT_EQ(r.code, 0) << r.out;
  nlohmann::json j = nlohmann::json::parse(r.out);
  for (const char* k : {"id", "type", "queue", "state", "priority", "attempts", "max_attempts", "run_at",
                        "result", "last_error", "errors", "progress", "checkpoint"}) {
    EXPECT_TRUE(j.contains(k)) << k;
  }
  EXPECT_EQ(j["payload"]["a"], 1);
  EXPECT_EQ(Ctl(d, "why " + std::to_string(id)).out.find("nothing holds it back") != std::string::npos, true);
  r = Ctl(d, "status");
  EXPECT_EQ(r.code, 3);
  EXPECT_NE(r.out.find("not running"), std::string::npos);
  EXPECT_EQ(Ctl(d, "wait " + std::to_string(id) + " --timeout 100ms").code, 3);
}

TEST(DroverctlTest, EnqueueWaitShowAgainstARunningDaemon) {
  Daemon d(kConfig);
  ASSERT_TRUE(d.Start()) << d.Log();
  ShellResult r = Ctl(d, "enqueue echo -", "{\"from\":\"stdin\"}");
  ASSERT_EQ(r.code, 0) << r.out;
  std::string id = r.out.substr(0, r.out.find('\n'));
  r = Ctl(d, "wait " + id + " --timeout 10s");
  EXPECT_EQ(r.code, 0) << r.out;
  EXPECT_NE(r.out.find(id + ": succeeded"), std::string::npos);
  r = Ctl(d, "show " + id);
  EXPECT_NE(r.out.find("{\"from\":\"stdin\"}"), std::string::npos) << r.out;

  r = Ctl(d, "enqueue fail");
  std::string fid = r.out.substr(0, r.out.find('\n'));
  r = Ctl(d, "wait " + fid + " --timeout 10s");
  EXPECT_EQ(r.code, 1);
  EXPECT_NE(r.out.find("failed: exit code 64: nope"), std::string::npos) << r.out;
  r = Ctl(d, "jobs --state failed --json");
  EXPECT_EQ(nlohmann::json::parse(r.out).size(), 1u);
  EXPECT_EQ(Ctl(d, "retry --failed").code, 0);
  EXPECT_EQ(Ctl(d, "wait " + fid + " --timeout 10s").code, 1);
  r = Ctl(d, "stats --json");
  ASSERT_EQ(r.code, 0) << r.out;
  nlohmann::json stats = nlohmann::json::parse(r.out);
  ASSERT_EQ(stats.size(), 1u);
  EXPECT_EQ(stats[0]["queue"], "default");
  EXPECT_EQ(stats[0]["counts"]["succeeded"], 1);
  EXPECT_EQ(stats[0]["counts"]["failed"], 1);
  EXPECT_EQ(stats[0]["finished_last_1m"], 2);  // the throughput of the last minutes
  EXPECT_EQ(stats[0]["finished_last_5m"], 2);
  EXPECT_NE(Ctl(d, "stats").out.find("DONE/1M"), std::string::npos);
}

TEST(DroverctlTest, UniqueJobsAndCancel) {
  Daemon d(kConfig);
  ASSERT_TRUE(d.Start()) << d.Log();
  ShellResult a = Ctl(d, "enqueue once '{\"k\":1}' --json");
  ShellResult b = Ctl(d, "enqueue once '{ \"k\" : 1 }' --json");
  ASSERT_EQ(a.code, 0);
  ASSERT_EQ(b.code, 0);
  EXPECT_EQ(nlohmann::json::parse(a.out)["id"], nlohmann::json::parse(b.out)["id"]);
  EXPECT_EQ(nlohmann::json::parse(b.out)["duplicate"], true);
  std::string id = std::to_string(nlohmann::json::parse(a.out)["id"].get<std::int64_t>());
  ASSERT_TRUE(WaitFor([&] { return Ctl(d, "show " + id).out.find("running") != std::string::npos; }, 5000));
  EXPECT_EQ(Ctl(d, "cancel " + id).code, 0);
  ShellResult w = Ctl(d, "wait " + id + " --timeout 10s");
  EXPECT_NE(w.out.find("cancelled"), std::string::npos) << w.out;
  EXPECT_EQ(Ctl(d, "cancel " + id).code, 1);  // already finished
  EXPECT_EQ(Ctl(d, "cancel 99999").code, 3);
}

// A duplicate's id on stdout alone, so that id=$(droverctl enqueue ...) works; the note on stderr.
TEST(DroverctlTest, ADuplicatePrintsTheExistingIdAloneOnStdout) {
  Daemon d(kConfig);
  std::string cmd = std::string(DROVERCTL_PATH) + " -c " + d.config() + " enqueue echo '{}' --unique-key k";
  ShellResult first = RunShell(cmd + " 2>/dev/null");
  ShellResult again = RunShell(cmd + " 2>/dev/null");
  ASSERT_EQ(first.code, 0) << first.out;
  ASSERT_EQ(again.code, 0) << again.out;
  EXPECT_EQ(again.out, first.out);
  EXPECT_EQ(RunShell(cmd + " 2>&1 >/dev/null").out,
            "droverctl: job " + first.out.substr(0, first.out.size() - 1) +
                " is already queued with unique key k; not enqueued again\n");
  ShellResult wait =
      RunShell(std::string(DROVERCTL_PATH) + " -c " + d.config() + " show $(" + cmd + " 2>/dev/null)");
  EXPECT_EQ(wait.code, 0) << wait.out;
}

TEST(DroverctlTest, PauseResumeAndWhy) {
  Daemon d(kConfig);
  ASSERT_TRUE(d.Start()) << d.Log();
  ASSERT_EQ(Ctl(d, "pause default").code, 0);
  std::string id = Ctl(d, "enqueue echo").out;
  id = id.substr(0, id.find('\n'));
  EXPECT_NE(Ctl(d, "why " + id).out.find("queue \"default\" is paused"), std::string::npos);
  EXPECT_EQ(Ctl(d, "wait " + id + " --timeout 300ms").code, 3);
  ASSERT_EQ(Ctl(d, "resume default").code, 0);
  EXPECT_EQ(Ctl(d, "wait " + id + " --timeout 10s").code, 0);
}

TEST(DroverctlTest, ProcessVerbs) {
  Daemon d(kConfig);
  ASSERT_TRUE(d.Start()) << d.Log();
  ShellResult r = Ctl(d, "status --json");
  ASSERT_EQ(r.code, 0) << r.out;
  nlohmann::json st = nlohmann::json::parse(r.out);
  ASSERT_EQ(st.size(), 2u);
  EXPECT_EQ(st[1]["name"], "worker:default:0");
  EXPECT_EQ(st[1]["state"], "RUNNING");
  r = Ctl(d, "status");
  EXPECT_NE(r.out.find("worker:default:0"), std::string::npos);
  EXPECT_EQ(std::stoi(Ctl(d, "pid").out), d.pid());
  EXPECT_EQ(Ctl(d, "stop worker:default:0").code, 0);
  ASSERT_TRUE(WaitFor([&] { return Ctl(d, "status worker:default:0").code == 3; }, 5000));
  EXPECT_EQ(Ctl(d, "start all").code, 0);
  ASSERT_TRUE(WaitFor([&] { return Ctl(d, "status").code == 0; }, 5000));
  EXPECT_EQ(Ctl(d, "status nope").code, 3);
  EXPECT_NE(Ctl(d, "reread").out.find("no changes"), std::string::npos);
  std::ofstream(d.config(), std::ios::app) << "\n[limits.mail]\nmax_running = 2\n";
  r = Ctl(d, "reread");  // workers are replaced to claim under the new limits
  EXPECT_NE(r.out.find("pool:default"), std::string::npos) << r.out;
  r = Ctl(d, "tail -n 5 worker:default:0");
  EXPECT_EQ(r.code, 0) << r.out;
  EXPECT_NE(r.out.find("[worker:default:0 "), std::string::npos) << r.out;
  EXPECT_EQ(Ctl(d, "shutdown").code, 0);
  EXPECT_EQ(WEXITSTATUS(d.Reap(20'000)), 0);
}

// A line of the log cut inside a character (or any bytes a job sent there) reaches tail as
// U+FFFD; droverd answers and goes on.
TEST(DroverctlTest, TailOfALogThatIsNotUtf8AnswersWithReplacements) {
  Daemon d(kConfig);
  ASSERT_TRUE(d.Start()) << d.Log();
  std::ofstream(d.dir() + "/drover.log", std::ios::app)
      << "[worker:default:0 1] caf\xC3\n[worker:default:0 1] \xFF\xFE\n";
  for (int i = 0; i < 2; ++i) {
    ShellResult r = Ctl(d, "tail -n 2 worker:default:0");
    EXPECT_EQ(r.code, 0) << r.out;
    EXPECT_NE(r.out.find("caf\xEF\xBF\xBD"), std::string::npos) << r.out;
    r = Ctl(d, "maintail -n 2");
    EXPECT_EQ(r.code, 0) << r.out;
  }
  EXPECT_TRUE(Alive(d.pid()));
  EXPECT_EQ(WEXITSTATUS(d.Stop()), 0);
}

TEST(DroverctlTest, UsageErrorsExitTwo) {
  Daemon d(kConfig);
  for (const char* args : {"show",
                           "show abc",
                           "enqueue",
                           "jobs --state bogus",
                           "jobs --limit",
                           "enqueue echo --delay soon",
                           "enqueue echo --unique-key schedule:x:1",
                           "enqueue echo --unique-key ''",
                           "wait",
                           "start",
                           "signal HUP",
                           "prune --state queued",
                           "enqueue echo {} {}",
                           "enqueue echo --priority high",
                           "enqueue echo --delay 1s --at 2026-01-01T00:00:00Z",
                           "enqueue echo --bogus 1",
                           "jobs extra",
                           "show 1 2",
                           "cancel",
                           "cancel x",
                           "retry",
                           "delete",
                           "delete -1",
                           "cancel 1 --queue default",
                           "jobs --limit 1 --limit 2",
                           "jobs --state done",
                           "jobs --after yesterday",
                           "enqueue echo --queue a --queue b",
                           "cancel --state succeeded",
                           "cancel --state bogus",
                           "delete --state running",
                           "retry --state queued",
                           "retry --failed --state expired",
                           "delete --older-than soon",
                           "prune --older-than soon",
                           "stats extra",
                           "queues extra",
                           "pause",
                           "pause a b",
                           "resume",
                           "wait 1 --timeout never",
                           "why",
                           "why 1 2",
                           "schedules extra",
                           "trigger",
                           "trigger a b",
                           "pause --schedule",
                           "stop",
                           "restart",
                           "signal",
                           "tail",
                           "version extra"}) {
    ShellResult r = Ctl(d, args);
    EXPECT_EQ(r.code, 2) << args << ": " << r.out;
    EXPECT_NE(r.out.find("usage"), std::string::npos) << args << ": " << r.out.substr(0, 300);
  }
  for (const char* args : {"frobnicate", "help nosuchverb"}) {
    ShellResult r = Ctl(d, args);
    EXPECT_EQ(r.code, 2) << args;
    EXPECT_NE(r.out.find("unknown verb"), std::string::npos) << args << ": " << r.out.substr(0, 300);
  }
  {
    std::ofstream(d.dir() + "/huge.json") << "{\"pad\":\"" << std::string(kMaxPayloadBytes, 'x') << "\"}";
    ShellResult huge = Ctl(d, "enqueue echo @" + d.dir() + "/huge.json");
    EXPECT_EQ(huge.code, 1) << huge.out.substr(0, 300);
    EXPECT_NE(huge.out.find("the limit is " + std::to_string(kMaxPayloadBytes)), std::string::npos)
        << huge.out.substr(0, 300);
  }
  ShellResult r = Ctl(d, "enqueue nosuch");
  EXPECT_EQ(r.code, 1);
  EXPECT_NE(r.out.find("known: echo, fail, once"), std::string::npos) << r.out;
  r = Ctl(d, "enqueue echo '{\"a\":'");
  EXPECT_EQ(r.code, 1);
  EXPECT_NE(r.out.find("not valid JSON"), std::string::npos) << r.out;
  EXPECT_EQ(Ctl(d, "jobs --json").out, "[]\n");  // nothing was enqueued by the failures
}

// On a terminal (a pty from script(1)) the prompt edits lines: the up arrow recalls the last
// command, and the history is kept in ~/.drover_history for the next session.
TEST(DroverctlTest, InteractivePromptOnATerminalRecallsHistory) {
  Daemon d(kConfig);
  const std::string cmd =
      "(printf 'help version\\n'; sleep 0.5; printf '\\033[A\\n'; sleep 0.5; printf 'exit\\n') | "
      "HOME=" +
      d.dir() + " script -qfec '" + DROVERCTL_PATH + " -c " + d.config() + "' /dev/null";
  ShellResult r = RunShell(cmd);
  EXPECT_EQ(r.code, 0) << r.out;
  size_t first = r.out.find("usage: droverctl version");
  ASSERT_NE(first, std::string::npos) << r.out;
  EXPECT_NE(r.out.find("usage: droverctl version", first + 1), std::string::npos)
      << "the up arrow did not recall: " << r.out;
  std::ifstream history(d.dir() + "/.drover_history");
  std::string saved((std::istreambuf_iterator<char>(history)), {});
  EXPECT_NE(saved.find("help\\040version"), std::string::npos) << saved;
}

// prune without arguments keeps to the configured retention, never takes what finished in the last
// five minutes (stats counts it), and asks first at a terminal.
TEST(DroverctlTest, PruneKeepsToRetentionAndTheLastFiveMinutes) {
  Daemon d(std::string(kConfig) + "[scheduler]\nretention = { cancelled = \"1h\", failed = \"30d\" }\n");
  auto store = d.Store();
  std::vector<std::int64_t> ids;
  for (int i = 0; i < 3; ++i) {
    ids.push_back(std::stoll(Ctl(d, "enqueue echo '{}'").out));
  }
  for (std::int64_t id : ids) ASSERT_EQ(Ctl(d, "cancel " + std::to_string(id)).code, 0);
  // Two of them finished two hours ago, one just now.
  {
    SqliteDb db = std::move(SqliteDb::Open(d.db(), {})).value();
    ASSERT_TRUE(db.Exec("UPDATE jobs SET finished_at = finished_at - 7200000 WHERE id IN (" +
                        std::to_string(ids[0]) + ", " + std::to_string(ids[1]) + ")")
                    .ok());
  }
  ShellResult r = Ctl(d, "prune --json");
  ASSERT_EQ(r.code, 0) << r.out;
  EXPECT_EQ(nlohmann::json::parse(r.out)["deleted"], 2);  // cancelled: 1h retention
  EXPECT_TRUE(store->Get(ids[2]).ok());
  r = Ctl(d, "prune --older-than 0s --json");
  EXPECT_EQ(nlohmann::json::parse(r.out)["deleted"], 0) << r.out;  // finished within 5 minutes
  EXPECT_TRUE(store->Get(ids[2]).ok());

  // At a terminal: the count, then a question; anything but y keeps the jobs, --yes does not ask.
  {
    SqliteDb db = std::move(SqliteDb::Open(d.db(), {})).value();
    ASSERT_TRUE(
        db.Exec("UPDATE jobs SET finished_at = finished_at - 7200000 WHERE id = " + std::to_string(ids[2]))
            .ok());
  }
  ShellResult no = AtTerminal(d, "prune", "n\\n");
  EXPECT_NE(no.out.find("delete 1 finished job(s)? [y/N]"), std::string::npos) << no.out;
  EXPECT_NE(no.out.find("nothing deleted"), std::string::npos) << no.out;
  EXPECT_TRUE(store->Get(ids[2]).ok());
  ShellResult yes = AtTerminal(d, "prune --yes", "");
  EXPECT_EQ(yes.out.find("[y/N]"), std::string::npos) << yes.out;
  EXPECT_NE(yes.out.find("deleted 1 job(s)"), std::string::npos) << yes.out;
  EXPECT_FALSE(store->Get(ids[2]).ok());
}

// A resource id: set at enqueue (directly or through droverd), shown, filtered on.
TEST(DroverctlTest, ResourceIdsAreSetShownAndFiltered) {
  Daemon d(kConfig);
  ShellResult direct = Ctl(d, "enqueue echo '{}' --resource room-7");
  ASSERT_EQ(direct.code, 0) << direct.out;
  std::string id = direct.out.substr(0, direct.out.find('\n'));
  Ctl(d, "enqueue echo '{}' --resource room-8");
  Ctl(d, "enqueue echo '{}'");
  EXPECT_NE(Ctl(d, "show " + id).out.find("resource:         room-7"), std::string::npos);
  nlohmann::json listed = nlohmann::json::parse(Ctl(d, "jobs --resource room-7 --json").out);
  ASSERT_EQ(listed.size(), 1u);
  EXPECT_EQ(listed[0]["resource"], "room-7");
  // Lists (commas or a repeated flag) match any of their values; times bound the enqueue time.
  EXPECT_EQ(nlohmann::json::parse(Ctl(d, "jobs --resource room-7,room-8 --json").out).size(), 2u);
  EXPECT_EQ(
      nlohmann::json::parse(Ctl(d, "jobs --resource room-7 --resource room-8 --type echo,fail --json").out)
          .size(),
      2u);
  EXPECT_EQ(nlohmann::json::parse(Ctl(d, "jobs --state queued,running --after 1h --json").out).size(), 3u);
  EXPECT_EQ(nlohmann::json::parse(Ctl(d, "jobs --before 2026-01-01T00:00:00Z --json").out).size(), 0u);
  EXPECT_EQ(nlohmann::json::parse(Ctl(d, "jobs --type fail --json").out).size(), 0u);
  EXPECT_EQ(Ctl(d, "enqueue echo --resource ''").code, 2);
  ASSERT_TRUE(d.Start()) << d.Log();
  ShellResult via = Ctl(d, "enqueue echo '{}' --resource room-9 --via-socket");
  ASSERT_EQ(via.code, 0) << via.out;
  EXPECT_EQ(nlohmann::json::parse(Ctl(d, "jobs --resource room-9 --json").out).size(), 1u);
}

// Filters instead of ids: counted, confirmed at a terminal, done in batches; other jobs untouched.
TEST(DroverctlTest, BulkCancelRetryAndDeleteByFilter) {
  Daemon d(kConfig);  // not started: the jobs stay queued
  std::vector<EnqueueRequest> reqs;
  for (int i = 0; i < 1200; ++i) {  // more than one batch
    EnqueueRequest r;
    r.type = i % 2 ? "echo" : "fail";
    r.queue = "typo";
    reqs.push_back(r);
  }
  auto store = d.Store();
  ASSERT_TRUE(store->EnqueueBatch(reqs).ok());
  std::int64_t kept = Enqueue(store.get(), "echo");  // queue default

  ShellResult no = AtTerminal(d, "cancel --queue typo", "n\\n");
  EXPECT_NE(no.out.find("cancel 1200 job(s) (state=queued|running, queue=typo)? [y/N]"), std::string::npos)
      << no.out;
  EXPECT_NE(no.out.find("nothing done"), std::string::npos) << no.out;
  JobSelector typo;
  typo.queue = "typo";
  EXPECT_EQ(*store->CountSelected(BulkAction::kCancel, typo), 1200);

  ShellResult cancelled = Ctl(d, "cancel --queue typo --type echo --json");
  ASSERT_EQ(cancelled.code, 0) << cancelled.out;
  nlohmann::json c = nlohmann::json::parse(cancelled.out);
  EXPECT_EQ(c["applied"], 600);
  EXPECT_EQ(c["running"], 0);
  ShellResult yes = AtTerminal(d, "cancel --queue typo --yes", "");
  EXPECT_EQ(yes.out.find("[y/N]"), std::string::npos) << yes.out;
  EXPECT_NE(yes.out.find("cancelled 600 queued job(s)"), std::string::npos) << yes.out;
  EXPECT_EQ(store->Get(kept)->state, JobState::kQueued);

  // Retry takes the cancelled echo jobs back; by default a filtered retry takes failed jobs only.
  ShellResult none = Ctl(d, "retry --type echo");
  EXPECT_EQ(none.code, 0) << none.out;
  EXPECT_NE(none.out.find("no jobs match (state=failed, type=echo)"), std::string::npos) << none.out;
  ShellResult retried = Ctl(d, "retry --type echo --state cancelled --state expired");  // = cancelled,expired
  EXPECT_EQ(retried.code, 0) << retried.out;
  EXPECT_NE(retried.out.find("queued 600 job(s) again"), std::string::npos) << retried.out;
  // --yes beside ids is accepted (scripts pass it whatever they select by).
  ShellResult by_id = Ctl(d, "cancel " + std::to_string(kept) + " --yes");
  EXPECT_EQ(by_id.code, 0) << by_id.out;
  EXPECT_EQ(store->Get(kept)->state, JobState::kCancelled);
  ASSERT_TRUE(store->Retry(kept).ok());

  // Delete by age: nothing is an hour old; then everything in the queue that is not running.
  EXPECT_NE(Ctl(d, "delete --queue typo --older-than 1h").out.find("no jobs match"), std::string::npos);
  ShellResult deleted = Ctl(d, "delete --queue typo");
  EXPECT_NE(deleted.out.find("deleted 1200 job(s)"), std::string::npos) << deleted.out;
  EXPECT_EQ(*store->CountSelected(BulkAction::kDelete, JobSelector()), 1);
  EXPECT_EQ(store->Get(kept)->state, JobState::kQueued);
}

// A typo in the configuration (a rejected reload) must not lock the operator out of the daemon.
TEST(DroverctlTest, ABrokenConfigStillReachesTheRunningDaemon) {
  Daemon d(kConfig);
  ASSERT_TRUE(d.Start()) << d.Log();
  std::string good = ReadFile(d.config());
  std::ofstream(d.config(), std::ios::app) << "\n[pools.default\nworkers = oops\n";
  kill(d.pid(), SIGHUP);  // rejected: the daemon keeps its configuration
  ShellResult status = Ctl(d, "status");
  EXPECT_EQ(status.code, 0) << status.out;
  EXPECT_NE(status.out.find("warning: cannot use configuration"), std::string::npos) << status.out;
  EXPECT_NE(status.out.find("worker:default:0"), std::string::npos) << status.out;
  // The daemon answers with the configuration it runs with: job types, pools and the database.
  ShellResult enqueued = Ctl(d, "enqueue echo '{\"typo\":1}'");
  ASSERT_EQ(enqueued.code, 0) << enqueued.out;
  std::string id = enqueued.out.substr(enqueued.out.rfind('\n', enqueued.out.size() - 2) + 1);
  id.pop_back();  // the id is the last line (after the warning on stderr)
  ShellResult waited = Ctl(d, "wait " + id + " --timeout 10s");
  EXPECT_EQ(waited.code, 0) << waited.out;
  EXPECT_NE(waited.out.find("as it last loaded it"), std::string::npos) << waited.out;
  EXPECT_EQ(Ctl(d, "jobs").code, 0);
  ShellResult avail = Ctl(d, "avail");
  EXPECT_NE(avail.out.find("worker:default:0"), std::string::npos) << avail.out;
  ShellResult queues = Ctl(d, "queues");
  EXPECT_NE(queues.out.find("default"), std::string::npos) << queues.out;

  // -s names the socket when there is no configuration at all.
  std::string socket = d.dir() + "/drover.sock";
  ShellResult by_socket = RunShell(std::string(DROVERCTL_PATH) + " -c " + d.dir() + "/missing.toml -s " +
                                   socket + " status 2>&1");
  EXPECT_EQ(by_socket.code, 0) << by_socket.out;
  ShellResult by_env = RunShell("DROVER_SOCKET=" + socket + " " + DROVERCTL_PATH + " -c " + d.dir() +
                                "/missing.toml pid 2>&1");
  EXPECT_EQ(by_env.code, 0) << by_env.out;
  EXPECT_EQ(RunShell(std::string(DROVERCTL_PATH) + " -c " + d.dir() + "/missing.toml status 2>&1").code, 1);

  // With droverd down, only the socket and database lines are read: job types need the file.
  EXPECT_EQ(d.Stop(), 0);
  ShellResult offline = Ctl(d, "enqueue echo '{}'");
  EXPECT_EQ(offline.code, 1) << offline.out;
  EXPECT_NE(offline.out.find("droverd does not answer"), std::string::npos) << offline.out;
  EXPECT_EQ(Ctl(d, "jobs").code, 0);
  std::ofstream(d.config()) << good;
}

// With --json a script reads errors as JSON too, with the same exit codes.
TEST(DroverctlTest, JsonErrorsAreJson) {
  Daemon d(kConfig);
  struct Case {
    const char* args;
    int code;
    const char* error_code;
  } cases[] = {
      {"show 99999 --json", 3, "not_found"},   {"show abc --json", 2, "usage"},
      {"frobnicate --json", 2, "usage"},       {"enqueue nosuchtype --json", 1, "not_found"},
      {"status --json", 3, "not_running"},  // no daemon
      {"trigger nope --json", 3, "not_found"},
  };
  for (const Case& c : cases) {
    ShellResult r =
        RunShell(std::string(DROVERCTL_PATH) + " -c " + d.config() + " " + c.args + " 2>&1 >/dev/null");
    EXPECT_EQ(r.code, c.code) << c.args << ": " << r.out;
    nlohmann::json e = nlohmann::json::parse(r.out, nullptr, false);
    ASSERT_TRUE(e.is_object()) << c.args << ": " << r.out;
    EXPECT_EQ(e["code"], c.error_code) << c.args;
    EXPECT_TRUE(e["error"].is_string()) << c.args;
  }
  ShellResult bad_config = RunShell(std::string(DROVERCTL_PATH) + " -c /nonexistent.toml --json status 2>&1");
  EXPECT_EQ(bad_config.code, 1);
  EXPECT_EQ(nlohmann::json::parse(bad_config.out, nullptr, false).value("code", ""), "config")
      << bad_config.out;
}

TEST(DroverctlTest, InteractivePromptThroughAPipe) {
  Daemon d(kConfig);
  ShellResult r = Ctl(d, "", "help show\nenqueue echo\njobs\nexit\n");
  EXPECT_EQ(r.code, 0) << r.out;
  EXPECT_NE(r.out.find("usage: droverctl show ID"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("echo"), std::string::npos);
}

TEST(DroverctlTest, ThePromptTakesABareJsonPayload) {
  Daemon d(kConfig);
  ShellResult r = Ctl(d, "", "enqueue echo {\"a\": [1, \"x y\"]} --priority 3\n");
  ASSERT_EQ(r.code, 0) << r.out;
  std::int64_t id = std::stoll(r.out);
  EXPECT_EQ(d.Store()->Get(id)->priority, 3);
  EXPECT_EQ(nlohmann::json::parse(d.Store()->Get(id)->payload),
            nlohmann::json::parse(R"({"a": [1, "x y"]})"));
}

}  // namespace
}  // namespace drover::testing
