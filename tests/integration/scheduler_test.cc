// The scheduler child under a real droverd: periodic runs, restarts in the middle of a run
// window, overlap, the lease reaper, stuck-job warnings and the schedule verbs of droverctl.
#include <gtest/gtest.h>
#include <signal.h>

#include <algorithm>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>

#include "tests/integration/ctl.h"
#include "tests/integration/daemon.h"

namespace drover::testing {
namespace {

// The slots (epoch ms) of every run of schedule `name`, oldest first, from the unique keys.
std::vector<std::int64_t> Slots(JobStore* store, const std::string& name) {
  JobFilter f;
  f.limit = 100'000;
  std::vector<Job> jobs = *store->List(f);
  std::vector<std::int64_t> out;
  const std::string prefix = "schedule:" + name + ":";
  for (const Job& j : jobs) {
    if (j.unique_key && j.unique_key->rfind(prefix, 0) == 0)
      out.push_back(*ParseRfc3339(j.unique_key->substr(prefix.size())));
  }
  std::sort(out.begin(), out.end());
  return out;
}

constexpr const char* kTicker = R"(
[pools.default]
workers = 1
[jobs.tick]
command = ["/bin/true"]
[schedules.every_second]
job = "tick"
every = "1s"
catch_up = "all"
)";

TEST(SchedulerTest, PeriodicRunsSurviveSchedulerKillsWithoutDoublesOrGaps) {
  Daemon d(kTicker, "restart_delay = \"300ms\"\nstartsecs = \"200ms\"\n");
  ASSERT_TRUE(d.Start()) << d.Log();
  auto store = d.Store();
  ASSERT_TRUE(WaitFor([&] { return Slots(store.get(), "every_second").size() >= 2; }, 5000)) << d.Log();
  for (int kill_round = 0; kill_round < 3; ++kill_round) {
    pid_t scheduler = d.PidOf("scheduler");
    ASSERT_GT(scheduler, 0);
    kill(scheduler, SIGKILL);
    ASSERT_TRUE(WaitFor(
        [&] {
          pid_t p = d.PidOf("scheduler");
          return p > 0 && p != scheduler;
        },
        5000))
        << d.Log();
    ASSERT_TRUE(WaitFor([&] { return d.Process("scheduler")["state"] == "RUNNING"; }, 5000));
    usleep(700'000);  // spread the kills over several slots
  }
  size_t before = Slots(store.get(), "every_second").size();
  ASSERT_TRUE(WaitFor([&] { return Slots(store.get(), "every_second").size() >= before + 2; }, 5000));
  EXPECT_EQ(WEXITSTATUS(d.Stop()), 0);
  std::vector<std::int64_t> slots = Slots(store.get(), "every_second");
  ASSERT_GE(slots.size(), 6u);
  for (size_t i = 1; i < slots.size(); ++i) {
    EXPECT_EQ(slots[i] - slots[i - 1], 1000) << "gap or double between runs " << i - 1 << " and " << i;
  }
  JobFilter f;
  f.limit = 1000;
  std::vector<Job> jobs = *store->List(f);
  for (const Job& j : jobs) {
    // A run enqueued just before the stop may still wait for the next start.
    EXPECT_TRUE(j.state == JobState::kSucceeded || j.state == JobState::kQueued)
        << "job " << j.id << " is " << JobStateName(j.state);
  }
}

TEST(SchedulerTest, OverlapFalseNeverRunsTwoAtOnce) {
  Daemon d(R"(
[pools.default]
workers = 1
concurrency = 4
[jobs.slow]
command = ["/bin/sleep", "1.5"]
[schedules.slow]
job = "slow"
every = "1s"
overlap = false
)");
  ASSERT_TRUE(d.Start()) << d.Log();
  auto store = d.Store();
  ASSERT_TRUE(WaitFor(
      [&] {
        JobFilter f;
        f.states = {JobState::kSucceeded};
        return store->List(f)->size() >= 2;
      },
      10'000))
      << d.Log();
  EXPECT_EQ(WEXITSTATUS(d.Stop()), 0);
  JobFilter f;
  std::vector<Job> jobs = *store->List(f);
  std::sort(jobs.begin(), jobs.end(), [](const Job& a, const Job& b) { return a.id < b.id; });
  for (size_t i = 1; i < jobs.size(); ++i) {
    ASSERT_TRUE(jobs[i - 1].finished_at_ms.has_value());
    ASSERT_TRUE(jobs[i].started_at_ms.has_value());
    EXPECT_GE(*jobs[i].started_at_ms, *jobs[i - 1].finished_at_ms)
        << "jobs " << jobs[i - 1].id << " and " << jobs[i].id;
  }
  EXPECT_NE(d.Log().find("overlap = false"), std::string::npos) << "no skipped run was logged";
}

TEST(SchedulerTest, ReaperRequeuesJobsOfAWorkerNobodyWatchesAndStuckJobsAreReported) {
  Daemon d(R"(
[scheduler]
tick = "100ms"
stuck_after = "300ms"
[pools.default]
workers = 1
[jobs.long]
command = ["/bin/sleep", "60"]
)",
           // The long job must outlast the checks however slow the machine; the stop ends it.
           "shutdown_timeout = \"500ms\"\n");
  ASSERT_TRUE(d.Start()) << d.Log();
  auto store = d.Store();
  // A claim by a worker that does not exist, from a queue no pool serves: only its lease
  // running out can free the job.
  EnqueueRequest r;
  r.type = "ghostly";
  r.queue = "elsewhere";
  std::int64_t id = store->Enqueue(r)->id;
  StoreConfig sc;
  sc.database = d.db();
  sc.lease = Duration(500);
  std::unique_ptr<JobStore> ghost = std::move(OpenJobStore(sc)).value();
  ASSERT_EQ(ghost->Claim("ghost@1", {"elsewhere"}, 1)->size(), 1u);
  ASSERT_TRUE(WaitFor([&] { return store->Get(id)->state == JobState::kQueued; }, 5000)) << d.Log();
  EXPECT_EQ(store->Get(id)->attempts, 1);
  EXPECT_NE(store->Get(id)->errors.find("lease"), std::string::npos) << store->Get(id)->errors;
  std::int64_t slow = Enqueue(store.get(), "long");
  const std::string warning = "job " + std::to_string(slow) + " (long) has been running";
  ASSERT_TRUE(WaitFor([&] { return d.Log().find(warning) != std::string::npos; }, 5000)) << d.Log();
  // droverctl marks it too: in jobs, show and stats.
  ShellResult jobs = Ctl(d, "jobs --state running");
  EXPECT_NE(jobs.out.find("STUCK worker:default:0"), std::string::npos) << jobs.out;
  EXPECT_EQ(nlohmann::json::parse(Ctl(d, "jobs --state running --json").out)[0]["stuck"], true);
  EXPECT_NE(Ctl(d, "show " + std::to_string(slow)).out.find("STUCK: attempt 1 has run for"),
            std::string::npos);
  nlohmann::json stats = nlohmann::json::parse(Ctl(d, "stats --json").out);
  for (const nlohmann::json& q : stats) EXPECT_EQ(q["stuck"], q["queue"] == "default" ? 1 : 0) << q.dump();
  EXPECT_EQ(WEXITSTATUS(d.Stop()), 0);
  std::string log = d.Log();
  EXPECT_EQ(log.find(warning, log.find(warning) + 1), std::string::npos) << "warned twice";
}

TEST(SchedulerTest, DroverctlListsPausesAndTriggersSchedules) {
  Daemon d(R"(
[pools.default]
workers = 1
[jobs.report]
command = ["/bin/true"]
[schedules.nightly]
job = "report"
cron = "0 3 * * *"
timezone = "America/Argentina/Buenos_Aires"
payload = { kind = "nightly" }
)");
  ASSERT_TRUE(d.Start()) << d.Log();
  ShellResult list = Ctl(d, "schedules --json");
  ASSERT_EQ(list.code, 0) << list.out;
  nlohmann::json s = nlohmann::json::parse(list.out);
  ASSERT_EQ(s.size(), 1u);
  EXPECT_EQ(s[0]["name"], "nightly");
  EXPECT_EQ(s[0]["job"], "report");
  EXPECT_TRUE(s[0]["next_run"].is_string());
  EXPECT_TRUE(s[0]["last_run"].is_null());

  // The table's columns fit their content: a long zone does not run into the next column.
  ShellResult table = Ctl(d, "schedules");
  ASSERT_EQ(table.code, 0) << table.out;
  std::istringstream lines(table.out);
  std::string header, row;
  std::getline(lines, header);
  std::getline(lines, row);
  EXPECT_NE(row.find("0 3 * * * (America/Argentina/Buenos_Aires)  "), std::string::npos) << table.out;
  EXPECT_EQ(header.find("NEXT RUN"), row.find("in "));  // the next run's column starts at its heading
  EXPECT_EQ(header.find("LAST RUN"), row.find("never"));

  ShellResult t = Ctl(d, "trigger nightly --json");
  ASSERT_EQ(t.code, 0) << t.out;
  std::int64_t id = nlohmann::json::parse(t.out)["id"];
  EXPECT_EQ(Ctl(d, "wait " + std::to_string(id) + " --timeout 10s").code, 0);
  auto store = d.Store();
  EXPECT_EQ(nlohmann::json::parse(store->Get(id)->payload)["kind"], "nightly");
  s = nlohmann::json::parse(Ctl(d, "schedules --json").out);
  EXPECT_EQ(s[0]["last_job"], id);
  EXPECT_EQ(s[0]["last_state"], "succeeded");

  EXPECT_EQ(Ctl(d, "pause --schedule nightly").code, 0);
  EXPECT_EQ(nlohmann::json::parse(Ctl(d, "schedules --json").out)[0]["paused"], true);
  EXPECT_NE(Ctl(d, "schedules").out.find("paused"), std::string::npos);
  EXPECT_EQ(Ctl(d, "resume --schedule nightly").code, 0);
  EXPECT_EQ(Ctl(d, "trigger nosuch").code, 3);
  EXPECT_EQ(Ctl(d, "trigger").code, 2);
  EXPECT_EQ(Ctl(d, "pause --schedule nosuch").code, 3);
  EXPECT_EQ(Ctl(d, "pause q --schedule nightly").code, 2);
  EXPECT_EQ(WEXITSTATUS(d.Stop()), 0);
}

}  // namespace
}  // namespace drover::testing
