#include "jobs/schedule_runner.h"

#include <gtest/gtest.h>

#include "common/time_util.h"
#include "jobs/store/open_job_store.h"
#include "tests/temp_dir.h"

namespace drover {
namespace {

std::int64_t At(const char* t) { return *ParseRfc3339(t); }

class ScheduleRunnerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    Result<std::unique_ptr<JobStore>> s = OpenJobStore({.database = dir_.path() + "/jobs.db"});
    ASSERT_TRUE(s.ok()) << s.status().ToString();
    store_ = std::move(s).value();
  }

  // A config with one job type "report" and the given [schedules.s] body.
  void Configure(const std::string& schedule) {
    Result<Config> c = ParseConfig(
        "[pools.default]\n[jobs.report]\ncommand = [\"/bin/true\"]\n"
        "[schedules.s]\njob = \"report\"\n" +
            schedule,
        dir_.path() + "/drover.toml");
    ASSERT_TRUE(c.ok()) << c.status().ToString();
    config_ = std::move(c).value();
  }

  // A fresh runner, as a restarted scheduler would have.
  ScheduleRunner& Restart(std::int64_t now) {
    runner_.emplace(config_, store_.get());
    EXPECT_TRUE(runner_->Start(now).ok());
    return *runner_;
  }

  // The slots of the enqueued runs, from their unique keys, oldest first.
  std::vector<std::string> Runs() {
    JobFilter f;
    f.limit = 10'000;
    std::vector<std::string> out;
    std::vector<Job> jobs = *store_->List(f);
    for (const Job& j : jobs)
      out.insert(out.begin(), j.unique_key->substr(std::string("schedule:s:").size()));
    return out;
  }

  TempDir dir_;
  std::unique_ptr<JobStore> store_;
  Config config_;
  std::optional<ScheduleRunner> runner_;
};

TEST_F(ScheduleRunnerTest, ANewScheduleWaitsForItsFirstSlotThenRunsEachOnce) {
  Configure("every = \"1h\"\nanchor = \"2026-01-01T00:15:00Z\"\n");
  ScheduleRunner& r = Restart(At("2026-11-23T09:00:00Z"));
  EXPECT_EQ(r.RunDue(At("2026-11-23T09:00:00Z")), At("2026-11-23T09:15:00Z"));
  EXPECT_TRUE(Runs().empty());
  EXPECT_EQ(r.RunDue(At("2026-11-23T09:15:00.003Z")), At("2026-11-23T10:15:00Z"));
  EXPECT_EQ(r.RunDue(At("2026-11-23T09:15:00.500Z")), At("2026-11-23T10:15:00Z"));
  EXPECT_EQ(Runs(), std::vector<std::string>{"2026-11-23T09:15:00.000Z"});
  ScheduleState st = store_->Schedules()->front();
  EXPECT_EQ(st.last_run_ms, At("2026-11-23T09:15:00Z"));
}

TEST_F(ScheduleRunnerTest, ARestartedSchedulerNeitherDoublesNorSkips) {
  Configure("every = \"1m\"\ncatch_up = \"all\"\n");
  Restart(At("2026-11-23T09:00:30Z")).RunDue(At("2026-11-23T09:01:00Z"));
  // The scheduler dies and comes back within the same slot: nothing new.
  Restart(At("2026-11-23T09:01:10Z")).RunDue(At("2026-11-23T09:01:10Z"));
  EXPECT_EQ(Runs().size(), 1u);
  // It comes back after two more slots passed: both run, then the timetable goes on.
  Restart(At("2026-11-23T09:03:20Z")).RunDue(At("2026-11-23T09:03:20Z"));
  runner_->RunDue(At("2026-11-23T09:04:00Z"));
  EXPECT_EQ(Runs(), (std::vector<std::string>{"2026-11-23T09:01:00.000Z", "2026-11-23T09:02:00.000Z",
                                              "2026-11-23T09:03:00.000Z", "2026-11-23T09:04:00.000Z"}));
}

TEST_F(ScheduleRunnerTest, CatchUpOneRunsTheLatestMissedSlotOnce) {
  Configure("cron = \"0 * * * *\"\n");  // catch_up = "one" is the default
  Restart(At("2026-11-23T05:30:00Z"));
  Restart(At("2026-11-23T09:20:00Z")).RunDue(At("2026-11-23T09:20:00Z"));  // down from 05:30 to 09:20
  EXPECT_EQ(Runs(), std::vector<std::string>{"2026-11-23T09:00:00.000Z"});
  runner_->RunDue(At("2026-11-23T10:00:00Z"));
  EXPECT_EQ(Runs().size(), 2u);
}

TEST_F(ScheduleRunnerTest, CatchUpNoneSkipsMissedSlotsButNotOnTimeOnes) {
  Configure("cron = \"0 * * * *\"\ncatch_up = \"none\"\n");
  Restart(At("2026-11-23T05:30:00Z"));
  Restart(At("2026-11-23T09:20:00Z")).RunDue(At("2026-11-23T09:20:00Z"));
  EXPECT_TRUE(Runs().empty());
  runner_->RunDue(At("2026-11-23T10:00:00.200Z"));
  EXPECT_EQ(Runs(), std::vector<std::string>{"2026-11-23T10:00:00.000Z"});
}

TEST_F(ScheduleRunnerTest, CatchUpAllIsBounded) {
  Configure("every = \"1m\"\ncatch_up = \"all\"\n");
  Restart(At("2026-11-20T00:00:00Z"));
  Restart(At("2026-11-23T00:00:00Z")).RunDue(At("2026-11-23T00:00:00Z"));  // three days of minutes missed
  std::vector<std::string> runs = Runs();
  ASSERT_EQ(runs.size(), static_cast<size_t>(ScheduleRunner::kMaxCatchUp));
  EXPECT_EQ(runs.back(), "2026-11-23T00:00:00.000Z");
  EXPECT_EQ(store_->Schedules()->front().next_run_ms, At("2026-11-23T00:01:00Z"));
}

TEST_F(ScheduleRunnerTest, OverlapFalseSkipsWhileThePreviousRunIsQueuedOrRunning) {
  Configure("every = \"1m\"\noverlap = false\n");
  ScheduleRunner& r = Restart(At("2026-11-23T09:00:30Z"));
  r.RunDue(At("2026-11-23T09:01:00Z"));
  r.RunDue(At("2026-11-23T09:02:00Z"));  // the 09:01 run is still queued
  EXPECT_EQ(Runs().size(), 1u);
  std::vector<ClaimedJob> c = *store_->Claim("w", {"default"}, 1);
  ASSERT_EQ(c.size(), 1u);
  r.RunDue(At("2026-11-23T09:03:00Z"));  // ... running
  EXPECT_EQ(Runs().size(), 1u);
  Completion done;
  done.id = c[0].id;
  done.attempt = c[0].attempt;
  done.kind = Completion::Kind::kSucceeded;
  ASSERT_TRUE(store_->Complete("w", std::span<const Completion>(&done, 1), nullptr).ok());
  r.RunDue(At("2026-11-23T09:04:00Z"));
  EXPECT_EQ(Runs(), (std::vector<std::string>{"2026-11-23T09:01:00.000Z", "2026-11-23T09:04:00.000Z"}));
}

TEST_F(ScheduleRunnerTest, APausedScheduleLetsSlotsPass) {
  Configure("every = \"1m\"\n");
  ScheduleRunner& r = Restart(At("2026-11-23T09:00:30Z"));
  ASSERT_TRUE(store_->SetSchedulePaused("s", true).ok());
  r.RunDue(At("2026-11-23T09:01:00Z"));
  EXPECT_TRUE(Runs().empty());
  ASSERT_TRUE(store_->SetSchedulePaused("s", false).ok());
  r.RunDue(At("2026-11-23T09:02:00Z"));
  EXPECT_EQ(Runs(), std::vector<std::string>{"2026-11-23T09:02:00.000Z"});
}

TEST_F(ScheduleRunnerTest, AChangedTimingStartsFromItsNextSlot) {
  Configure("every = \"1h\"\n");
  Restart(At("2026-11-23T09:30:00Z"));
  EXPECT_EQ(store_->Schedules()->front().next_run_ms, At("2026-11-23T10:00:00Z"));
  Configure("every = \"15m\"\n");
  Restart(At("2026-11-23T09:31:00Z"));
  EXPECT_EQ(store_->Schedules()->front().next_run_ms, At("2026-11-23T09:45:00Z"));
  EXPECT_TRUE(Runs().empty());
}

}  // namespace
}  // namespace drover
