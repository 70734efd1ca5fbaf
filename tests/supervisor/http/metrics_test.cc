#include "supervisor/http/metrics.h"

#include <gtest/gtest.h>

#include <cstdlib>
#include <fstream>

#include "common/time_util.h"
#include "tests/temp_dir.h"

namespace drover {
namespace {

Config Configured() {
  Config c;
  c.pools["default"].queues = {"default", "mail"};
  c.jobs["send"] = {};
  c.schedules["nightly"] = {};
  return c;
}

TallyEntry Entry(JobOutcome o, std::int64_t n, double seconds) {
  TallyEntry e;
  e.outcomes[static_cast<int>(o)] = n;
  for (std::int64_t i = 0; i < n; ++i) e.duration.Observe(seconds);
  return e;
}

bool Has(const std::string& text, const std::string& line) {
  return text.find("\n" + line + "\n") != std::string::npos;
}

TEST(MetricsTest, TalliesAddUpAcrossReports) {
  Metrics m(Configured(), {});
  m.AddTally({"mail", "send"}, Entry(JobOutcome::kSucceeded, 3, 0.2));
  m.AddTally({"mail", "send"}, Entry(JobOutcome::kSucceeded, 2, 7));
  m.AddTally({"mail", "send"}, Entry(JobOutcome::kFailed, 1, 0.01));
  m.AddMissed("nightly", 2);
  m.AddRecovered(4);
  std::string text = m.Render({});
  EXPECT_TRUE(Has(text, "drover_jobs_total{outcome=\"succeeded\",queue=\"mail\",type=\"send\"} 5")) << text;
  EXPECT_TRUE(Has(text, "drover_jobs_total{outcome=\"failed\",queue=\"mail\",type=\"send\"} 1")) << text;
  EXPECT_TRUE(Has(text, "drover_job_duration_seconds_count{queue=\"mail\",type=\"send\"} 6")) << text;
  EXPECT_TRUE(Has(text, "drover_job_duration_seconds_bucket{queue=\"mail\",type=\"send\",le=\"0.5\"} 4"))
      << text;
  EXPECT_TRUE(Has(text, "drover_schedule_missed_total{schedule=\"nightly\"} 2")) << text;
  EXPECT_TRUE(Has(text, "drover_jobs_recovered_total 4")) << text;
  EXPECT_TRUE(Has(text, "drover_build_info{version=\"" DROVER_VERSION "\"} 1")) << text;
}

TEST(MetricsTest, SnapshotsBecomeGauges) {
  Metrics m(Configured(), {});
  Metrics::Snapshot now;
  now.now_ms = 100'000;
  QueueStats q;
  q.queue = "default";
  q.counts[static_cast<int>(JobState::kQueued)] = 7;
  q.oldest_ready_ms = 40'000;
  q.paused = true;
  now.queues.push_back(q);
  ScheduleState s;
  s.name = "nightly";
  s.last_run_ms = 3'600'000;
  now.schedules.push_back(s);
  now.processes.push_back({"worker:default:0", true, 2, {{"app", false, 5}, {"mail", true, 0}}});
  now.processes.push_back({"scheduler", false, 0, {}});
  std::string text = m.Render(now);
  EXPECT_TRUE(Has(text, "drover_runner_ready{process=\"worker:default:0\",runner=\"app\"} 0")) << text;
  EXPECT_TRUE(Has(text, "drover_runner_failed_starts{process=\"worker:default:0\",runner=\"app\"} 5"))
      << text;
  EXPECT_TRUE(Has(text, "drover_runner_ready{process=\"worker:default:0\",runner=\"mail\"} 1")) << text;
  EXPECT_TRUE(Has(text, "drover_queue_jobs{queue=\"default\",state=\"queued\"} 7")) << text;
  EXPECT_TRUE(Has(text, "drover_queue_jobs{queue=\"default\",state=\"expired\"} 0")) << text;
  EXPECT_TRUE(Has(text, "drover_queue_oldest_age_seconds{queue=\"default\"} 60")) << text;
  EXPECT_TRUE(Has(text, "drover_queue_paused{queue=\"default\"} 1")) << text;
  EXPECT_TRUE(Has(text, "drover_schedule_last_run_timestamp_seconds{schedule=\"nightly\"} 3600")) << text;
  EXPECT_TRUE(Has(text, "drover_process_up{name=\"scheduler\"} 0")) << text;
  EXPECT_TRUE(Has(text, "drover_process_restarts_total{name=\"worker:default:0\"} 2")) << text;
}

TEST(MetricsTest, LabelValuesAreBounded) {
  Metrics m(Configured(), {"in_process"});
  for (size_t i = 0; i < kMaxExtraLabelValues + 20; ++i) {
    m.AddTally({"q" + std::to_string(i), "t" + std::to_string(i)}, Entry(JobOutcome::kSucceeded, 1, 0));
  }
  m.AddTally({"mail", "in_process"}, Entry(JobOutcome::kSucceeded, 1, 0));
  std::string text = m.Render({});
  EXPECT_TRUE(Has(text, "drover_jobs_total{outcome=\"succeeded\",queue=\"other\",type=\"other\"} 20"))
      << text;
  EXPECT_TRUE(Has(text, "drover_jobs_total{outcome=\"succeeded\",queue=\"mail\",type=\"in_process\"} 1"))
      << text;
  EXPECT_EQ(text.find("queue=\"q" + std::to_string(kMaxExtraLabelValues) + "\""), std::string::npos);
}

TEST(MetricsTest, TheLastHourHasAMinuteEach) {
  Metrics m(Configured(), {});
  m.AddTally({"mail", "send"}, Entry(JobOutcome::kSucceeded, 3, 0));
  m.AddTally({"mail", "send"}, Entry(JobOutcome::kRetried, 2, 0));
  std::vector<MinuteCounts> hour = m.LastHour(NowMs());
  ASSERT_EQ(hour.size(), 60u);
  EXPECT_EQ(hour.back().succeeded + hour[58].succeeded, 3);
  EXPECT_EQ(hour.back().failed + hour[58].failed, 2);
  EXPECT_EQ(hour.front().succeeded, 0);
  EXPECT_EQ(hour.back().minute_ms - hour.front().minute_ms, 59 * 60'000);
}

// The exposition is what Prometheus' own checker accepts (promtool, Debian package prometheus).
TEST(MetricsTest, PromtoolAcceptsTheExposition) {
  Metrics m(Configured(), {});
  m.AddTally({"mail", "send"}, Entry(JobOutcome::kSucceeded, 3, 0.2));
  Metrics::Snapshot now;
  QueueStats q;
  q.queue = "mail";
  now.queues.push_back(q);
  now.processes.push_back({"scheduler", true, 0, {}});
  TempDir dir;
  std::ofstream(dir.path() + "/metrics") << m.Render(now);
  int rc = std::system(("promtool check metrics < " + dir.path() + "/metrics").c_str());
  EXPECT_EQ(rc, 0) << "promtool comes with Debian's prometheus package (.ci/deps --test installs it)";
}

}  // namespace
}  // namespace drover
