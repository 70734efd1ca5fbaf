#include "jobs/report_line.h"

#include <gtest/gtest.h>

#include "jobs/job_tally.h"

namespace drover {
namespace {

Report Parse(const std::string& line) {
  EXPECT_FALSE(line.empty());
  EXPECT_EQ(line.back(), '\n');
  EXPECT_EQ(line.find('\n'), line.size() - 1) << "one line: " << line;
  return ParseReport(line.substr(0, line.size() - 1));
}

TEST(ReportLineTest, EveryMessageReadsBackAsWritten) {
  EXPECT_EQ(Parse(ReadyLine()).kind, Report::Kind::kReady);
  EXPECT_EQ(Parse(SpareIdleLine()).kind, Report::Kind::kSpareIdle);

  std::vector<std::int64_t> ids{7, 9, 11};
  Report hb = Parse(HeartbeatLine(ids));
  EXPECT_EQ(hb.kind, Report::Kind::kHeartbeat);
  EXPECT_EQ(hb.ids, ids);
  EXPECT_TRUE(Parse(HeartbeatLine({})).ids.empty());

  Report pg = Parse(GroupStartedLine(4242));
  EXPECT_EQ(pg.kind, Report::Kind::kGroupStarted);
  EXPECT_EQ(pg.pgid, 4242);
  EXPECT_EQ(Parse(GroupEndedLine(4242)).kind, Report::Kind::kGroupEnded);

  Report rec = Parse(RecoveredLine("worker:default:0@12", 3));
  EXPECT_EQ(rec.kind, Report::Kind::kRecovered);
  EXPECT_EQ(rec.worker_id, "worker:default:0@12");
  EXPECT_EQ(rec.count, 3);

  Report failed = Parse(RecoverFailedLine("worker:default:0@12", "database is locked\nsecond line"));
  EXPECT_EQ(failed.kind, Report::Kind::kRecoverFailed);
  EXPECT_EQ(failed.worker_id, "worker:default:0@12");
  EXPECT_EQ(failed.text, "database is locked second line");

  Report recycle = Parse(RecycleLine("ran 100 jobs (max_jobs)"));
  EXPECT_EQ(recycle.kind, Report::Kind::kRecycle);
  EXPECT_EQ(recycle.text, "ran 100 jobs (max_jobs)");
}

TEST(ReportLineTest, HeartbeatsCarryAtMostThirtyTwoIds) {
  std::vector<std::int64_t> ids(100);
  for (size_t i = 0; i < ids.size(); ++i) ids[i] = static_cast<std::int64_t>(i);
  EXPECT_EQ(Parse(HeartbeatLine(ids)).ids.size(), kMaxHeartbeatIds);
}

TEST(ReportLineTest, TalliesEventsAndMissedSlotsKeepTheirText) {
  JobTally t;
  t.Finished("mail", "send", JobOutcome::kFailed, 0.2);
  std::string lines = t.Lines();
  Report tally = Parse(lines);
  EXPECT_EQ(tally.kind, Report::Kind::kTally);
  ASSERT_TRUE(ParseTally(tally.text).has_value()) << tally.text;

  Report event = Parse(EventLine("{\"kind\":\"job\",\n\"event\":\"started\"}"));
  EXPECT_EQ(event.kind, Report::Kind::kEvent);
  EXPECT_EQ(event.text, "{\"kind\":\"job\", \"event\":\"started\"}");

  Report missed = Parse(MissedLine("nightly report", 4));
  EXPECT_EQ(missed.kind, Report::Kind::kMissed);
  EXPECT_EQ(missed.count, 4);
  EXPECT_EQ(missed.text, "nightly report");
}

TEST(ReportLineTest, ARunnersStateReadsBackWithItsReason) {
  Report r = Parse(RunnerLine("app", "backoff", 5, 1600, "exit status 4; its last stderr:\ncannot load"));
  EXPECT_EQ(r.kind, Report::Kind::kRunner);
  EXPECT_EQ(r.name, "app");
  EXPECT_EQ(r.state, "backoff");
  EXPECT_EQ(r.count, 5);
  EXPECT_EQ(r.ms, 1600);
  EXPECT_EQ(r.text, "exit status 4; its last stderr: cannot load");
  Report ready = Parse(RunnerLine("app", "ready", 0, 0, ""));
  EXPECT_EQ(ready.state, "ready");
  EXPECT_EQ(ready.text, "");
}

TEST(ReportLineTest, WhatCannotBeReadIsUnknown) {
  for (const char* line : {"", "hello", "pg", "pg x", "recovered", "recovered w", "recover-failed", "missed",
                           "missed x", "runner", "runner app ready", "runner app ready x 0"}) {
    EXPECT_EQ(ParseReport(line).kind, Report::Kind::kUnknown) << line;
  }
}

}  // namespace
}  // namespace drover
