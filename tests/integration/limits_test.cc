// Running limits against a real droverd: from the jobs' own start and end marks, the runs of a
// limited type (and of one resource) never overlap beyond the limit, also while workers are
// kill -9'd, and the other jobs fill every slot.
#include <gtest/gtest.h>
#include <signal.h>

#include <fstream>
#include <map>
#include <sstream>

#include "tests/integration/ctl.h"
#include "tests/integration/daemon.h"

namespace drover::testing {
namespace {

struct Run {
  std::int64_t id = 0;
  std::int64_t start = 0, end = 0;  // ns; end 0: killed before it ended
};

// The runs the jobs logged ("S ID NS" at start, "E ID NS" at the end); a job run again after a
// kill has one run per attempt.
std::vector<Run> ReadRuns(const std::string& log) {
  std::ifstream in(log);
  std::vector<Run> runs;
  std::map<std::int64_t, size_t> open;  // job id -> its last run without an end
  std::string mark;
  Run r;
  std::int64_t t;
  while (in >> mark >> r.id >> t) {
    if (mark == "S") {
      r.start = t;
      r.end = 0;
      open[r.id] = runs.size();
      runs.push_back(r);
    } else if (auto it = open.find(r.id); it != open.end()) {
      runs[it->second].end = t;
      open.erase(it);
    }
  }
  return runs;
}

// The most runs of `runs` that were under way at one moment (ended runs only).
int PeakOverlap(const std::vector<Run>& runs) {
  std::vector<std::pair<std::int64_t, int>> events;
  for (const Run& r : runs) {
    if (r.end == 0) continue;
    events.push_back({r.start, 1});
    events.push_back({r.end, -1});
  }
  std::sort(events.begin(), events.end());  // at a tie the end (-1) comes first
  int now = 0, peak = 0;
  for (auto [_, d] : events) peak = std::max(peak, now += d);
  return peak;
}

void LimitsHold(bool kill_workers) {
  Daemon d(R"(
[pools.default]
workers = 2
concurrency = 8
[jobs.report]
command = ["/bin/sh", "-c", "echo S $DROVER_JOB_ID $(date +%s%N) >> runs.log; while [ ! -e release ]; do sleep 0.02; done; sleep 0.2; echo E $DROVER_JOB_ID $(date +%s%N) >> runs.log"]
max_running = 3
working_dir = "."
[jobs.sync]
command = ["/bin/sh", "-c", "echo S $DROVER_JOB_ID $(date +%s%N) >> runs.log; while [ ! -e release ]; do sleep 0.02; done; sleep 0.2; echo E $DROVER_JOB_ID $(date +%s%N) >> runs.log"]
max_running_per_resource = 1
working_dir = "."
)",
           "restart_delay = \"0s\"\n");
  std::string config = d.config();
  {  // working_dir "." is the config's directory
    std::string text;
    std::ifstream in(config);
    text.assign(std::istreambuf_iterator<char>(in), {});
    size_t at;
    while ((at = text.find("working_dir = \".\"")) != std::string::npos)
      text.replace(at, 17, "working_dir = \"" + d.dir() + "\"");
    d.RewriteConfig(text);
  }
  auto store = d.Store();
  // Runs of 200 ms once released (see below).
  std::vector<EnqueueRequest> reqs;
  for (int i = 0; i < 200; ++i) {
    if (i < 120) {
      EnqueueRequest r;
      r.type = "report";
      reqs.push_back(r);
    }
    EnqueueRequest s;
    s.type = "sync";
    s.resource = "acct-" + std::to_string(i % 20);
    reqs.push_back(s);
  }
  Result<std::vector<EnqueueResult>> ids = store->EnqueueBatch(reqs);
  ASSERT_TRUE(ids.ok()) << ids.status().ToString();
  ASSERT_TRUE(d.Start()) << d.Log();

  // The first runs hold until every slot is taken (16 start marks: 3 reports plus one sync for each
  // of 13 accounts fit the limits), so that "all slots used at once" does not depend on how fast
  // a loaded machine forks; then they end and the rest run freely.
  const std::string log = d.dir() + "/runs.log";
  auto marks = [&](char kind) {
    std::ifstream in(log);
    int n = 0;
    for (std::string line; std::getline(in, line);) n += !line.empty() && line[0] == kind;
    return n;
  };
  const bool all_slots_taken = WaitFor([&] { return marks('S') >= 16; }, 60'000);
  std::ofstream(d.dir() + "/release") << "";
  ASSERT_TRUE(all_slots_taken) << marks('S') << " of 16 slots taken\n" << d.Log();
  // Kills start once those first runs have ended, so that their marks are whole.
  ASSERT_TRUE(WaitFor([&] { return marks('E') >= 16; }, 60'000)) << d.Log();

  std::int64_t deadline = MonotonicUs() + 120'000'000;
  int kills = 0;
  while (MonotonicUs() < deadline) {
    Result<std::vector<QueueStats>> stats = store->Stats();
    ASSERT_TRUE(stats.ok());
    std::int64_t open = 0;
    for (const QueueStats& q : *stats)
      open += q.counts[static_cast<int>(JobState::kQueued)] + q.counts[static_cast<int>(JobState::kRunning)];
    if (open == 0) break;
    if (kill_workers && kills < 6) {
      pid_t w = d.PidOf("worker:default:" + std::to_string(kills % 2));
      if (w > 0 && kill(w, SIGKILL) == 0) ++kills;
    }
    usleep(kill_workers ? 700'000 : 100'000);
  }
  ASSERT_LT(MonotonicUs(), deadline) << "jobs still open after 120 s";
  if (kill_workers) {
    EXPECT_GE(kills, 3);
  }

  std::map<std::int64_t, Job> jobs;
  JobFilter all;
  all.limit = 10'000;
  Result<std::vector<Job>> listed = store->List(all);
  ASSERT_TRUE(listed.ok());
  for (const Job& j : *listed) jobs[j.id] = j;
  std::vector<Run> runs = ReadRuns(d.dir() + "/runs.log");
  ASSERT_GE(runs.size(), 320u);
  std::vector<Run> reports;
  std::map<std::string, std::vector<Run>> by_resource;
  for (const Run& r : runs) {
    const Job& j = jobs.at(r.id);
    if (j.type == "report")
      reports.push_back(r);
    else
      by_resource[*j.resource].push_back(r);
  }
  // The limits are never exceeded; the first runs filled every slot and reached the report limit.
  EXPECT_EQ(PeakOverlap(reports), 3);
  for (const auto& [resource, rs] : by_resource) EXPECT_EQ(PeakOverlap(rs), 1) << resource;
  // A killed worker's job processes are killed before its jobs run again; they may still end while
  // the replacement runs others, so under kills 16 is the least.
  if (kill_workers) {
    EXPECT_GE(PeakOverlap(runs), 16);
  } else {
    EXPECT_EQ(PeakOverlap(runs), 16);
  }
  for (const auto& [id, j] : jobs)
    EXPECT_EQ(j.state, JobState::kSucceeded) << id << ": " << j.last_error.value_or("");
}

TEST(LimitsTest, RunningLimitsHoldAcrossWorkers) { LimitsHold(false); }

TEST(LimitsTest, RunningLimitsHoldWhileWorkersAreKilled) { LimitsHold(true); }

}  // namespace
}  // namespace drover::testing
