#include "jobs/job.h"

#include <gtest/gtest.h>

namespace drover {
namespace {

TEST(JobTest, LimitsOfAConfigurationBecomeRunningLimits) {
  Result<Config> c = ParseConfig(R"(
[pools.p]
[limits.smtp]
max_running = 5
[jobs.welcome]
limit = "smtp"
[jobs.digest]
limit = "smtp"
max_running = 1
max_running_per_resource = 1
[jobs.free]
)",
                                 "test.toml");
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  std::vector<RunningLimit> limits = RunningLimitsFor(*c);
  ASSERT_EQ(limits.size(), 3u);
  EXPECT_EQ(limits[0].name, "[jobs.digest] max_running");
  EXPECT_EQ(limits[0].max_running, 1);
  EXPECT_TRUE(limits[1].per_resource);
  EXPECT_EQ(limits[2].name, "[limits.smtp] max_running");
  EXPECT_EQ(limits[2].types, (std::vector<std::string>{"digest", "welcome"}));
  EXPECT_EQ(limits[2].max_running, 5);
}

TEST(JobTest, EachBulkActionTakesItsStates) {
  auto names = [](BulkAction a, std::vector<JobState> given) {
    JobSelector which;
    which.states = std::move(given);
    Result<std::vector<JobState>> s = SelectedStates(a, which);
    if (!s.ok()) return s.status().message();
    std::string out;
    for (JobState st : *s) out += (out.empty() ? "" : ",") + std::string(JobStateName(st));
    return out;
  };
  EXPECT_EQ(names(BulkAction::kCancel, {}), "queued,running");
  EXPECT_EQ(names(BulkAction::kRetry, {}), "failed,cancelled,expired");
  EXPECT_EQ(names(BulkAction::kDelete, {}), "queued,succeeded,failed,cancelled,expired");
  EXPECT_EQ(names(BulkAction::kRetry, {JobState::kExpired}), "expired");
  EXPECT_EQ(names(BulkAction::kDelete, {JobState::kRunning}), "delete cannot take running jobs");
  EXPECT_EQ(names(BulkAction::kCancel, {JobState::kQueued, JobState::kFailed}),
            "cancel cannot take failed jobs");
}

TEST(JobTest, AnEnqueueOutsideTheConfigsRangesIsRefused) {
  EnqueueRequest r;
  r.type = "t";
  EXPECT_TRUE(ValidateEnqueueRequest(r).ok());
  auto refused = [](EnqueueRequest r, const std::string& why) {
    Status s = ValidateEnqueueRequest(r);
    EXPECT_FALSE(s.ok()) << why;
    EXPECT_NE(s.message().find(why), std::string::npos) << s.ToString();
  };
  EnqueueRequest bad = r;
  bad.priority = kMaxPriority + 1;
  refused(bad, "priority must be from -1000000 to 1000000");
  bad.priority = -kMaxPriority - 1;
  refused(bad, "priority");
  bad = r;
  bad.max_attempts = kMaxAttempts + 1;
  refused(bad, "max_attempts must be from 1 to 1000000");
  bad.max_attempts = 0;
  refused(bad, "max_attempts");
  bad = r;
  bad.run_at_ms = kMaxTimeMs + 1;  // a time in microseconds is taken for year ~58,900
  refused(bad, "run_at must be a time from 1970 to the end of 9999");
  bad.run_at_ms = -1;
  refused(bad, "run_at");
  bad = r;
  bad.expires_at_ms = kMaxTimeMs + 1;
  refused(bad, "expires_at");
  EnqueueRequest edge = r;
  edge.priority = -kMaxPriority;
  edge.max_attempts = kMaxAttempts;
  edge.run_at_ms = kMaxTimeMs;
  EXPECT_TRUE(ValidateEnqueueRequest(edge).ok());
}

}  // namespace
}  // namespace drover
