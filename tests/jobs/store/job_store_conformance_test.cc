// The conformance suite: what every JobStore backend must do, through the JobStore interface
// and OpenJobStore only (no SQL here: backend-specific tests live beside their backend's own
// tests, e.g. sqlite_store_test.cc). A backend joins by adding an INSTANTIATE_TEST_SUITE_P.
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <functional>
#include <map>
#include <nlohmann/json.hpp>
#include <set>

#include "common/time_util.h"
#include "jobs/store/open_job_store.h"
#include "tests/pg/postgres_server.h"
#include "tests/readable.h"
#include "tests/temp_dir.h"

namespace drover {
namespace {

const std::vector<std::string> kDefault{"default"};

// A backend under test: the configuration of a fresh, empty store for one test, whose files (if
// any) go to `dir`.
struct Backend {
  std::string name;
  std::function<StoreConfig(const std::string& dir)> fresh;
};
void PrintTo(const Backend& b, std::ostream* os) { *os << b.name; }

class JobStoreConformance : public ::testing::TestWithParam<Backend> {
 protected:
  void SetUp() override {
    config_ = GetParam().fresh(dir_.path());
    store_ = Open();
  }
  StoreConfig Config() const { return config_; }
  std::unique_ptr<JobStore> Open() { return Open(Config()); }
  std::unique_ptr<JobStore> Open(const StoreConfig& c) {
    Result<std::unique_ptr<JobStore>> s = OpenJobStore(c);
    EXPECT_TRUE(s.ok()) << s.status().ToString();
    return s.ok() ? std::move(s).value() : nullptr;
  }
  std::int64_t Add(EnqueueRequest r) {
    Result<EnqueueResult> e = store_->Enqueue(r);
    EXPECT_TRUE(e.ok()) << e.status().ToString();
    return e.ok() ? e->id : 0;
  }
  std::int64_t Add(const std::string& type, int priority = 0) {
    EnqueueRequest r;
    r.type = type;
    r.priority = priority;
    return Add(r);
  }
  std::vector<ClaimedJob> ClaimN(int n, const std::string& worker = "w1") {
    Result<std::vector<ClaimedJob>> c = store_->Claim(worker, kDefault, n);
    EXPECT_TRUE(c.ok()) << c.status().ToString();
    return c.ok() ? *c : std::vector<ClaimedJob>{};
  }
  CompletionResult Finish(const std::string& worker, Completion c) {
    std::vector<CompletionResult> r;
    Status s = store_->Complete(worker, std::span<const Completion>(&c, 1), &r);
    EXPECT_TRUE(s.ok()) << s.ToString();
    return r.empty() ? CompletionResult{} : r[0];
  }
  Job GetJob(std::int64_t id) {
    Result<Job> j = store_->Get(id);
    EXPECT_TRUE(j.ok()) << j.status().ToString();
    return j.ok() ? *j : Job{};
  }

  TempDir dir_;
  StoreConfig config_;
  std::unique_ptr<JobStore> store_;
};

TEST_P(JobStoreConformance, ClaimOrderIsPriorityThenRunAtThenId) {
  std::int64_t low = Add("a", 0);
  std::int64_t high = Add("b", 10);
  std::int64_t low2 = Add("c", 0);
  EnqueueRequest older;
  older.type = "d";
  older.run_at_ms = NowMs() - 60'000;
  std::int64_t old_low = Add(older);
  std::vector<ClaimedJob> got = ClaimN(10);
  ASSERT_EQ(got.size(), 4u);
  EXPECT_EQ(got[0].id, high);
  EXPECT_EQ(got[1].id, old_low);
  EXPECT_EQ(got[2].id, low);
  EXPECT_EQ(got[3].id, low2);
  EXPECT_EQ(got[0].attempt, 1);
  Job j = GetJob(high);
  EXPECT_EQ(j.state, JobState::kRunning);
  EXPECT_EQ(j.worker, "w1");
  EXPECT_GT(*j.lease_until_ms, NowMs());
  EXPECT_TRUE(j.started_at_ms.has_value());
}

TEST_P(JobStoreConformance, ClaimHonoursLimitQueuesDelayAndExpiry) {
  Add("a");
  Add("b");
  EnqueueRequest other;
  other.type = "c";
  other.queue = "other";
  std::int64_t other_id = Add(other);
  EnqueueRequest delayed;
  delayed.type = "d";
  delayed.run_at_ms = NowMs() + 60'000;
  std::int64_t delayed_id = Add(delayed);
  EnqueueRequest expired;
  expired.type = "e";
  expired.expires_at_ms = NowMs() - 1;
  std::int64_t expired_id = Add(expired);

  EXPECT_EQ(ClaimN(1).size(), 1u);
  EXPECT_EQ(ClaimN(10).size(), 1u);
  EXPECT_TRUE(ClaimN(10).empty());
  EXPECT_EQ(GetJob(other_id).state, JobState::kQueued);
  EXPECT_EQ(GetJob(delayed_id).state, JobState::kQueued);
  EXPECT_EQ(*store_->NextRunAt(),
            std::optional<std::int64_t>(std::min(GetJob(other_id).run_at_ms, GetJob(expired_id).run_at_ms)));

  Result<std::vector<ClaimedJob>> both = store_->Claim("w2", {"default", "other"}, 10);
  ASSERT_TRUE(both.ok());
  ASSERT_EQ(both->size(), 1u);
  EXPECT_EQ((*both)[0].id, other_id);

  Result<std::vector<JobRef>> gone = store_->ExpireJobs(NowMs());
  ASSERT_TRUE(gone.ok());
  ASSERT_EQ(gone->size(), 1u);
  EXPECT_EQ((*gone)[0].id, expired_id);
  EXPECT_EQ((*gone)[0].queue, GetJob(expired_id).queue);
  EXPECT_EQ((*gone)[0].type, GetJob(expired_id).type);
  EXPECT_EQ(GetJob(expired_id).state, JobState::kExpired);
  EXPECT_EQ(GetJob(delayed_id).state, JobState::kQueued);
}

TEST_P(JobStoreConformance, PausedQueuesAreSkipped) {
  std::int64_t id = Add("a");
  ASSERT_TRUE(store_->SetQueuePaused("default", true).ok());
  EXPECT_TRUE(ClaimN(10).empty());
  EXPECT_EQ(*store_->PausedQueues(), kDefault);
  ASSERT_TRUE(store_->SetQueuePaused("default", false).ok());
  std::vector<ClaimedJob> got = ClaimN(10);
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0].id, id);
}

// Holding another type's key must not block it (a schedule's runs hold "schedule:NAME:SLOT").
TEST_P(JobStoreConformance, UniqueKeysAreScopedByType) {
  EnqueueRequest r;
  r.type = "report";
  r.unique_key = "schedule:nightly:2026-01-01T03:00:00Z";
  EnqueueRequest squatter = r;
  squatter.type = "other";
  std::int64_t other = Add(squatter);
  Result<EnqueueResult> run = store_->Enqueue(r);
  ASSERT_TRUE(run.ok());
  EXPECT_FALSE(run->duplicate);
  EXPECT_NE(run->id, other);
  EXPECT_TRUE(store_->Enqueue(r)->duplicate);
}

TEST_P(JobStoreConformance, UniqueKeyReturnsTheExistingJobWhileQueuedOrRunning) {
  EnqueueRequest r;
  r.type = "a";
  r.unique_key = "k";
  Result<EnqueueResult> first = store_->Enqueue(r);
  Result<EnqueueResult> dup = store_->Enqueue(r);
  ASSERT_TRUE(first.ok() && dup.ok());
  EXPECT_FALSE(first->duplicate);
  EXPECT_TRUE(dup->duplicate);
  EXPECT_EQ(dup->id, first->id);
  std::vector<ClaimedJob> c = ClaimN(1);
  ASSERT_EQ(c.size(), 1u);
  Result<EnqueueResult> while_running = store_->Enqueue(r);
  EXPECT_EQ(while_running->id, first->id);
  EXPECT_EQ(while_running->state, JobState::kRunning);
  Finish("w1", {c[0].id, c[0].attempt, Completion::Kind::kSucceeded, "{}", 0});
  Result<EnqueueResult> after = store_->Enqueue(r);
  EXPECT_FALSE(after->duplicate);
  EXPECT_NE(after->id, first->id);
}

TEST_P(JobStoreConformance, BatchEnqueueIsAllOrNothing) {
  std::vector<EnqueueRequest> reqs(3);
  for (auto& r : reqs) r.type = "a";
  reqs[1].payload = "{not json";
  Result<std::vector<EnqueueResult>> bad = store_->EnqueueBatch(reqs);
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("not valid JSON"), std::string::npos) << bad.status().message();
  EXPECT_TRUE(store_->List({})->empty());
  reqs[1].payload = R"({"n": 1})";
  Result<std::vector<EnqueueResult>> good = store_->EnqueueBatch(reqs);
  ASSERT_TRUE(good.ok());
  EXPECT_EQ(good->size(), 3u);
  EXPECT_EQ(store_->List({})->size(), 3u);
}

TEST_P(JobStoreConformance, RejectsBadRequests) {
  EnqueueRequest r;
  EXPECT_TRUE(store_->Enqueue(r).status().IsInvalidArgument());
  r.type = "a";
  r.payload = std::string(kMaxPayloadBytes + 1, ' ');
  Result<EnqueueResult> big = store_->Enqueue(r);
  EXPECT_TRUE(big.status().IsInvalidArgument());
  EXPECT_NE(big.status().message().find("limit"), std::string::npos);
  r.payload = "{}";
  r.max_attempts = 0;
  EXPECT_TRUE(store_->Enqueue(r).status().IsInvalidArgument());
  r.max_attempts = 1;
  r.unique_key = "";  // would make every job of the type a duplicate of the first
  Result<EnqueueResult> empty_key = store_->Enqueue(r);
  EXPECT_TRUE(empty_key.status().IsInvalidArgument());
  EXPECT_NE(empty_key.status().message().find("unique key must not be empty"), std::string::npos);
}

TEST_P(JobStoreConformance, SuccessRecordsResultOnce) {
  std::int64_t id = Add("a");
  ClaimedJob c = ClaimN(1).at(0);
  CompletionResult r = Finish("w1", {id, c.attempt, Completion::Kind::kSucceeded, R"({"ok":true})", 0});
  EXPECT_FALSE(r.stale);
  EXPECT_EQ(r.state, JobState::kSucceeded);
  Job j = GetJob(id);
  EXPECT_EQ(j.state, JobState::kSucceeded);
  EXPECT_EQ(j.result, R"({"ok":true})");
  EXPECT_TRUE(j.finished_at_ms.has_value());
  // A second report of the same attempt is stale and changes nothing.
  CompletionResult again = Finish("w1", {id, c.attempt, Completion::Kind::kFailed, "late", 0});
  EXPECT_TRUE(again.stale);
  EXPECT_EQ(GetJob(id).state, JobState::kSucceeded);
}

// A job a worker claimed ahead and gave back without starting it: as if never claimed.
TEST_P(JobStoreConformance, AReleasedJobGoesBackUnchargedAndACancelTakesEffect) {
  std::int64_t first = Add("a");
  std::int64_t second = Add("a");
  std::vector<ClaimedJob> c = ClaimN(2);
  ASSERT_EQ(c.size(), 2u);
  CompletionResult r = Finish("w1", {first, c[0].attempt, Completion::Kind::kReleased, "", 0});
  EXPECT_FALSE(r.stale);
  EXPECT_EQ(r.state, JobState::kQueued);
  Job j = GetJob(first);
  EXPECT_EQ(j.state, JobState::kQueued);
  EXPECT_EQ(j.attempts, 0);
  EXPECT_FALSE(j.worker.has_value());
  EXPECT_FALSE(j.started_at_ms.has_value());
  EXPECT_EQ(nlohmann::json::parse(j.errors).size(), 0u);
  ClaimedJob again = ClaimN(1, "w2").at(0);
  EXPECT_EQ(again.id, first);
  EXPECT_EQ(again.attempt, 1);
  // Released by a worker that no longer owns it: stale, nothing changes.
  EXPECT_TRUE(Finish("w1", {first, again.attempt, Completion::Kind::kReleased, "", 0}).stale);
  EXPECT_EQ(GetJob(first).state, JobState::kRunning);

  ASSERT_EQ(*store_->Cancel(second), JobState::kRunning);  // flagged for its worker
  r = Finish("w1", {second, c[1].attempt, Completion::Kind::kReleased, "", 0});
  EXPECT_EQ(r.state, JobState::kCancelled);
  EXPECT_EQ(GetJob(second).state, JobState::kCancelled);
}

TEST_P(JobStoreConformance, FailedAttemptsRetryWithBackoffThenFail) {
  EnqueueRequest req;
  req.type = "a";
  req.max_attempts = 2;
  std::int64_t later = Add(req);
  ClaimedJob c = ClaimN(1).at(0);
  std::int64_t before = NowMs();
  CompletionResult r = Finish("w1", {later, c.attempt, Completion::Kind::kFailed, "later", 30'000});
  EXPECT_EQ(r.state, JobState::kQueued);
  Job j = GetJob(later);
  EXPECT_GE(j.run_at_ms, before + 30'000);
  EXPECT_EQ(j.last_error, "later");
  EXPECT_TRUE(ClaimN(1).empty());  // not before its retry time

  // A job retried at once: claimed again, its last attempt fails it for good.
  std::int64_t id = Add(req);
  c = ClaimN(1).at(0);
  ASSERT_EQ(c.id, id);
  r = Finish("w1", {id, c.attempt, Completion::Kind::kFailed, "boom 1", 0});
  EXPECT_EQ(r.state, JobState::kQueued);
  ClaimedJob c2 = ClaimN(1).at(0);
  ASSERT_EQ(c2.id, id);
  EXPECT_EQ(c2.attempt, 2);
  r = Finish("w1", {id, c2.attempt, Completion::Kind::kFailed, "boom 2", 30'000});
  EXPECT_EQ(r.state, JobState::kFailed);
  j = GetJob(id);
  nlohmann::json errors = nlohmann::json::parse(j.errors);
  ASSERT_EQ(errors.size(), 2u);
  EXPECT_EQ(errors[0]["attempt"], 1);
  EXPECT_EQ(errors[0]["error"], "boom 1");
  EXPECT_EQ(errors[1]["error"], "boom 2");
  EXPECT_EQ(errors[1]["worker"], "w1");
}

TEST_P(JobStoreConformance, PermanentFailureSkipsRemainingAttempts) {
  std::int64_t id = Add("a");
  ClaimedJob c = ClaimN(1).at(0);
  EXPECT_EQ(Finish("w1", {id, c.attempt, Completion::Kind::kFailedPermanent, "bad input", 0}).state,
            JobState::kFailed);
  EXPECT_EQ(GetJob(id).attempts, 1);
}

TEST_P(JobStoreConformance, StaleWorkerCannotOverwriteARecoveredJob) {
  std::int64_t id = Add("a");
  ClaimedJob c = ClaimN(1, "old").at(0);
  Result<std::vector<std::int64_t>> rec = store_->Recover("old", true, "worker died (signal 9)");
  ASSERT_TRUE(rec.ok());
  EXPECT_EQ(*rec, std::vector<std::int64_t>{id});
  ClaimedJob c2 = ClaimN(1, "new").at(0);
  EXPECT_EQ(c2.attempt, 2);
  // The old worker reports late: rejected, for both the old and the new attempt number.
  EXPECT_TRUE(Finish("old", {id, c.attempt, Completion::Kind::kSucceeded, "x", 0}).stale);
  EXPECT_TRUE(Finish("old", {id, c2.attempt, Completion::Kind::kSucceeded, "x", 0}).stale);
  StartedProcess late{id, c.attempt, 4242};
  ASSERT_TRUE(store_->CompleteAndClaim("old", {.started = {&late, 1}}, nullptr, {}, 0, 0).ok());
  EXPECT_FALSE(GetJob(id).pid);  // a late pid record is dropped too
  EXPECT_FALSE(Finish("new", {id, c2.attempt, Completion::Kind::kSucceeded, "y", 0}).stale);
  EXPECT_EQ(GetJob(id).result, "y");
}

// A worker's pid records and outcomes go in with its next claim, in one transaction.
TEST_P(JobStoreConformance, PidRecordsGoInWithTheClaim) {
  std::int64_t a = Add("a");
  std::int64_t b = Add("b");
  std::vector<ClaimedJob> first = ClaimN(2);
  ASSERT_EQ(first.size(), 2u);
  std::int64_t c = Add("c");
  StartedProcess started[] = {{a, 1, 1001}, {b, 1, 1002}};
  Completion done{b, 1, Completion::Kind::kSucceeded, "ok", 0};
  std::vector<CompletionResult> results;
  Result<std::vector<ClaimedJob>> next =
      store_->CompleteAndClaim("w1", {.started = started, .done = {&done, 1}}, &results, kDefault, 5, 0);
  ASSERT_TRUE(next.ok()) << next.status().ToString();
  ASSERT_EQ(next->size(), 1u);
  EXPECT_EQ(next->front().id, c);
  EXPECT_EQ(GetJob(a).pid, 1001);
  EXPECT_EQ(GetJob(a).state, JobState::kRunning);
  ASSERT_EQ(results.size(), 1u);
  EXPECT_EQ(results[0].state, JobState::kSucceeded);
  // Only pid records: written, nothing claimed.
  StartedProcess again{a, 1, 2002};
  ASSERT_TRUE(store_->CompleteAndClaim("w1", {.started = {&again, 1}}, nullptr, {}, 0, 0).ok());
  EXPECT_EQ(GetJob(a).pid, 2002);
}

// One result per outcome, in the order of `done` whatever their kinds (the worker's tally walks
// both in step), stale ones included.
TEST_P(JobStoreConformance, ResultsFollowTheOrderOfTheOutcomes) {
  for (const char* t : {"a", "b", "c", "d"}) Add(t);
  std::vector<ClaimedJob> jobs = ClaimN(4);
  ASSERT_EQ(jobs.size(), 4u);
  using Kind = Completion::Kind;
  Completion done[] = {{jobs[3].id, jobs[3].attempt, Kind::kFailed, "x", 0},
                       {jobs[1].id, jobs[1].attempt, Kind::kSucceeded, "", 0},
                       {jobs[0].id, jobs[0].attempt + 1, Kind::kSucceeded, "", 0},  // not its attempt
                       {jobs[2].id, jobs[2].attempt, Kind::kFailedPermanent, "y", 0}};
  std::vector<CompletionResult> results;
  ASSERT_TRUE(store_->CompleteAndClaim("w1", {.done = done}, &results, kDefault, 0, 0).ok());
  ASSERT_EQ(results.size(), 4u);
  for (size_t i = 0; i < 4; ++i) EXPECT_EQ(results[i].id, done[i].id) << i;
  EXPECT_EQ(results[0].state, JobState::kQueued);
  EXPECT_EQ(results[1].state, JobState::kSucceeded);
  EXPECT_TRUE(results[2].stale);
  EXPECT_EQ(results[3].state, JobState::kFailed);
}

// Jobs claimed ahead (held) have not started: a crash of their worker or an expired lease gives
// their attempt back without a history entry, while the ones that started pay as usual.
TEST_P(JobStoreConformance, HeldJobsThatNeverStartedGetTheirAttemptBack) {
  std::int64_t a = Add("a"), b = Add("a"), c = Add("a");
  Result<std::vector<ClaimedJob>> got = store_->CompleteAndClaim("w1", {}, nullptr, kDefault, 1, 2);
  ASSERT_TRUE(got.ok()) << got.status().ToString();
  ASSERT_EQ(got->size(), 3u);
  EXPECT_EQ((*got)[0].id, a);  // best first: the first `n` start now, the rest are held
  EXPECT_TRUE(GetJob(a).started_at_ms.has_value());
  EXPECT_FALSE(GetJob(b).started_at_ms.has_value());
  EXPECT_FALSE(GetJob(c).started_at_ms.has_value());
  StartedProcess b_started{b, (*got)[1].attempt, 4242, 1'700'000'000'000};
  ASSERT_TRUE(store_->CompleteAndClaim("w1", {.started = {&b_started, 1}}, nullptr, {}, 0, 0).ok());
  EXPECT_EQ(GetJob(b).started_at_ms, 1'700'000'000'000);
  EXPECT_EQ(GetJob(b).pid, 4242);

  Result<std::vector<std::int64_t>> rec = store_->Recover("w1", true, "worker died (signal 9)");
  ASSERT_TRUE(rec.ok());
  EXPECT_EQ(rec->size(), 3u);
  for (std::int64_t started : {a, b}) {
    Job j = GetJob(started);
    EXPECT_EQ(j.state, JobState::kQueued);
    EXPECT_EQ(j.attempts, 1) << started;
    EXPECT_EQ(nlohmann::json::parse(j.errors).size(), 1u) << started;
  }
  Job never = GetJob(c);
  EXPECT_EQ(never.state, JobState::kQueued);
  EXPECT_EQ(never.attempts, 0);
  EXPECT_EQ(never.errors, "[]");
  EXPECT_FALSE(never.last_error.has_value());

  // The same when the lease runs out.
  got = store_->CompleteAndClaim("w2", {}, nullptr, kDefault, 1, 1);
  ASSERT_TRUE(got.ok());
  ASSERT_EQ(got->size(), 2u);
  ASSERT_TRUE(store_->ReapExpiredLeases(NowMs() + 24 * 3600 * 1000LL).ok());
  Job ran = GetJob((*got)[0].id), held = GetJob((*got)[1].id);
  EXPECT_EQ(ran.attempts, (*got)[0].attempt);
  EXPECT_EQ(held.attempts, (*got)[1].attempt - 1);
  EXPECT_EQ(nlohmann::json::parse(held.errors).size(), nlohmann::json::parse(ran.errors).size() - 1);
}

TEST_P(JobStoreConformance, RecoverWithoutSpendingRefundsTheAttempt) {
  std::int64_t id = Add("a");
  ClaimN(1);
  ASSERT_TRUE(store_->Recover("w1", false, "shutdown").ok());
  Job j = GetJob(id);
  EXPECT_EQ(j.state, JobState::kQueued);
  EXPECT_EQ(j.attempts, 0);
  EXPECT_FALSE(j.last_error.has_value());
}

TEST_P(JobStoreConformance, CrashOnTheLastAttemptFailsTheJob) {
  EnqueueRequest r;
  r.type = "a";
  r.max_attempts = 1;
  std::int64_t id = Add(r);
  ClaimN(1);
  ASSERT_TRUE(store_->Recover("w1", true, "worker died (signal 9)").ok());
  Job j = GetJob(id);
  EXPECT_EQ(j.state, JobState::kFailed);
  EXPECT_EQ(j.last_error, "worker died (signal 9)");
}

TEST_P(JobStoreConformance, RecoverAllAtStartup) {
  Add("a");
  Add("b");
  ClaimN(1, "w1");
  ClaimN(1, "w2");
  Result<std::vector<std::int64_t>> rec = store_->Recover("", false, "supervisor restarted");
  ASSERT_TRUE(rec.ok());
  EXPECT_EQ(rec->size(), 2u);
  EXPECT_EQ(ClaimN(10).size(), 2u);
}

TEST_P(JobStoreConformance, ShutdownInterruptionRefundsTheAttempt) {
  std::int64_t id = Add("a");
  ClaimedJob c = ClaimN(1).at(0);
  EXPECT_EQ(Finish("w1", {id, c.attempt, Completion::Kind::kInterrupted, "shutdown", 0}).state,
            JobState::kQueued);
  EXPECT_EQ(GetJob(id).attempts, 0);
  EXPECT_EQ(ClaimN(1).at(0).attempt, 1);
}

TEST_P(JobStoreConformance, RunningSinceListsOnlyAttemptsStartedBeforeTheTime) {
  std::int64_t a = Add("a");
  Add("queued-only");
  std::int64_t before_claim = NowMs();
  ASSERT_EQ(ClaimN(1).size(), 1u);
  EXPECT_TRUE(store_->RunningSince(before_claim - 1)->empty());
  std::vector<Job> running = *store_->RunningSince(NowMs() + 1);
  ASSERT_EQ(running.size(), 1u);
  EXPECT_EQ(running[0].id, a);
  EXPECT_EQ(running[0].state, JobState::kRunning);
}

TEST_P(JobStoreConformance, ExpiredLeasesAreReaped) {
  StoreConfig o = Config();
  o.lease = Duration(1000);
  store_ = Open(o);
  std::int64_t id = Add("a");
  ClaimN(1);
  EXPECT_TRUE(store_->ReapExpiredLeases(NowMs())->empty());
  Result<std::vector<std::int64_t>> reaped = store_->ReapExpiredLeases(NowMs() + 2000);
  ASSERT_TRUE(reaped.ok());
  EXPECT_EQ(*reaped, std::vector<std::int64_t>{id});
  Job j = GetJob(id);
  EXPECT_EQ(j.state, JobState::kQueued);
  EXPECT_NE(j.last_error->find("lease expired"), std::string::npos);
}

TEST_P(JobStoreConformance, ExtendLeasesMovesTheDeadline) {
  std::int64_t id = Add("a");
  ClaimN(1);
  std::int64_t first = *GetJob(id).lease_until_ms;
  usleep(5000);
  EXPECT_EQ(*store_->ExtendLeases("w1"), 1);
  EXPECT_GT(*GetJob(id).lease_until_ms, first);
  EXPECT_EQ(*store_->ExtendLeases("nobody"), 0);
}

TEST_P(JobStoreConformance, CancelQueuedAndRunning) {
  std::int64_t queued = Add("a");
  EXPECT_EQ(*store_->Cancel(queued), JobState::kCancelled);
  EXPECT_EQ(GetJob(queued).state, JobState::kCancelled);
  EXPECT_TRUE(store_->Cancel(queued).status().IsConflict());
  EXPECT_TRUE(store_->Cancel(9999).status().IsNotFound());

  std::int64_t running = Add("b");
  ClaimedJob c = ClaimN(1).at(0);
  EXPECT_EQ(*store_->Cancel(running), JobState::kRunning);
  EXPECT_EQ(*store_->CancelRequested("w1"), std::vector<std::int64_t>{running});
  // The worker stops the job; its failure is recorded as a cancellation.
  EXPECT_EQ(Finish("w1", {running, c.attempt, Completion::Kind::kFailed, "terminated", 1000}).state,
            JobState::kCancelled);
}

TEST_P(JobStoreConformance, RetryAndDelete) {
  std::int64_t id = Add("a");
  EXPECT_TRUE(store_->Retry(id).IsConflict());
  ASSERT_TRUE(store_->Cancel(id).ok());
  ASSERT_TRUE(store_->Retry(id).ok());
  EXPECT_EQ(GetJob(id).state, JobState::kQueued);
  ClaimN(1);
  EXPECT_TRUE(store_->Delete(id).IsConflict());
  ASSERT_TRUE(store_->Recover("w1", false, "x").ok());
  ASSERT_TRUE(store_->Delete(id).ok());
  EXPECT_TRUE(store_->Get(id).status().IsNotFound());
  EXPECT_TRUE(store_->Delete(id).IsNotFound());
}

TEST_P(JobStoreConformance, RetryRefusedWhileAnotherJobHoldsTheUniqueKey) {
  EnqueueRequest r;
  r.type = "a";
  r.unique_key = "k";
  std::int64_t first = Add(r);
  ASSERT_TRUE(store_->Cancel(first).ok());
  Add(r);
  Status s = store_->Retry(first);
  EXPECT_TRUE(s.IsConflict());
  EXPECT_NE(s.message().find("unique key"), std::string::npos) << s.message();
}

TEST_P(JobStoreConformance, PruneDeletesOldFinishedJobsInBatches) {
  for (int i = 0; i < 5; ++i) ASSERT_TRUE(store_->Cancel(Add("a")).ok());
  std::int64_t keep = Add("b");
  EXPECT_EQ(*store_->Prune(JobState::kCancelled, NowMs() - 60'000, 10), 0);
  EXPECT_EQ(*store_->CountPrunable(JobState::kCancelled, NowMs() - 60'000), 0);
  EXPECT_EQ(*store_->CountPrunable(JobState::kCancelled, NowMs() + 1), 5);
  EXPECT_EQ(*store_->CountPrunable(JobState::kSucceeded, NowMs() + 1), 0);
  EXPECT_EQ(*store_->Prune(JobState::kCancelled, NowMs() + 1, 3), 3);
  EXPECT_EQ(*store_->Prune(JobState::kCancelled, NowMs() + 1, 3), 2);
  EXPECT_TRUE(store_->Get(keep).ok());
  EXPECT_TRUE(store_->Prune(JobState::kQueued, NowMs(), 3).status().IsInvalidArgument());
}

// Runs a bulk action to the end in batches of `batch`; returns the sum of the batches.
BulkBatch BulkAll(JobStore* store, BulkAction action, const JobSelector& which, int batch) {
  BulkBatch total;
  for (std::int64_t after = 0;;) {
    Result<BulkBatch> b = store->ApplyBulk(action, which, after, batch);
    EXPECT_TRUE(b.ok()) << b.status().ToString();
    if (!b.ok() || b->selected == 0) return total;
    EXPECT_LE(b->selected, batch);
    EXPECT_GT(b->last_id, after);
    total.selected += b->selected;
    total.applied += b->applied;
    total.running += b->running;
    after = b->last_id;
  }
}

TEST_P(JobStoreConformance, BulkCancelTakesTheSelectedQueuedAndRunningJobs) {
  EnqueueRequest mail;
  mail.type = "mail";
  std::vector<std::int64_t> mails;
  for (int i = 0; i < 7; ++i) mails.push_back(Add(mail));
  EnqueueRequest other = mail;
  other.queue = "other";
  std::int64_t elsewhere = Add(other);
  std::int64_t report = Add("report");
  ClaimedJob running = ClaimN(1).at(0);  // the first mail
  ASSERT_EQ(running.id, mails[0]);

  JobSelector which;
  which.queue = "default";
  which.type = "mail";
  EXPECT_EQ(*store_->CountSelected(BulkAction::kCancel, which), 7);
  BulkBatch done = BulkAll(store_.get(), BulkAction::kCancel, which, 3);
  EXPECT_EQ(done.selected, 7);
  EXPECT_EQ(done.applied, 7);
  EXPECT_EQ(done.running, 1);
  for (size_t i = 1; i < mails.size(); ++i) EXPECT_EQ(GetJob(mails[i]).state, JobState::kCancelled);
  EXPECT_EQ(GetJob(mails[0]).state, JobState::kRunning);  // its worker stops it
  EXPECT_EQ(*store_->CancelRequested("w1"), std::vector<std::int64_t>{mails[0]});
  EXPECT_EQ(GetJob(elsewhere).state, JobState::kQueued);
  EXPECT_EQ(GetJob(report).state, JobState::kQueued);
  // Now only the running one is selected (again: cancelling is asked once more, harmlessly).
  EXPECT_EQ(*store_->CountSelected(BulkAction::kCancel, which), 1);
  which.states = {JobState::kQueued};
  EXPECT_EQ(*store_->CountSelected(BulkAction::kCancel, which), 0);
  which.states = {JobState::kSucceeded};
  EXPECT_TRUE(store_->CountSelected(BulkAction::kCancel, which).status().IsInvalidArgument());
  EXPECT_TRUE(store_->ApplyBulk(BulkAction::kCancel, which, 0, 10).status().IsInvalidArgument());
}

TEST_P(JobStoreConformance, BulkRetrySkipsAJobWhoseUniqueKeyIsHeld) {
  EnqueueRequest r;
  r.type = "a";
  r.unique_key = "k";
  std::int64_t first = Add(r);
  ASSERT_TRUE(store_->Cancel(first).ok());
  std::int64_t second = Add(r);
  ASSERT_TRUE(store_->Cancel(second).ok());
  std::int64_t plain = Add("a");
  ASSERT_TRUE(store_->Cancel(plain).ok());
  std::int64_t holder = Add(r);  // queued: holds "k"

  JobSelector which;
  which.states = {JobState::kCancelled};
  BulkBatch done = BulkAll(store_.get(), BulkAction::kRetry, which, 2);
  EXPECT_EQ(done.selected, 3);
  EXPECT_EQ(done.applied, 1);
  EXPECT_EQ(GetJob(plain).state, JobState::kQueued);
  EXPECT_EQ(GetJob(plain).attempts, 0);
  EXPECT_EQ(GetJob(first).state, JobState::kCancelled);
  EXPECT_EQ(GetJob(second).state, JobState::kCancelled);

  // With the key free, only one of the two may hold it again.
  ASSERT_TRUE(store_->Delete(holder).ok());
  done = BulkAll(store_.get(), BulkAction::kRetry, which, 10);
  EXPECT_EQ(done.selected, 2);
  EXPECT_EQ(done.applied, 1);
  EXPECT_EQ(GetJob(first).state, JobState::kQueued);
  EXPECT_EQ(GetJob(second).state, JobState::kCancelled);
}

TEST_P(JobStoreConformance, BulkDeleteSparesRunningAndNewerJobs) {
  std::vector<std::int64_t> old;
  for (int i = 0; i < 4; ++i) old.push_back(Add("a"));
  ASSERT_TRUE(store_->Cancel(old[3]).ok());
  ClaimN(1);  // old[0] runs
  const std::int64_t cut = NowMs() + 1;
  usleep(5'000);
  std::int64_t young = Add("a");

  JobSelector which;
  which.enqueued_before_ms = cut;
  EXPECT_EQ(*store_->CountSelected(BulkAction::kDelete, which), 3);
  BulkBatch done = BulkAll(store_.get(), BulkAction::kDelete, which, 2);
  EXPECT_EQ(done.applied, 3);
  EXPECT_EQ(GetJob(old[0]).state, JobState::kRunning);
  for (int i = 1; i < 4; ++i) EXPECT_TRUE(store_->Get(old[i]).status().IsNotFound());
  EXPECT_EQ(GetJob(young).state, JobState::kQueued);
  which.states = {JobState::kRunning};
  EXPECT_TRUE(store_->CountSelected(BulkAction::kDelete, which).status().IsInvalidArgument());
}

std::int64_t AddWith(JobStore* s, const std::string& type, std::optional<std::string> resource = std::nullopt,
                     int priority = 0) {
  EnqueueRequest r;
  r.type = type;
  r.resource = std::move(resource);
  r.priority = priority;
  Result<EnqueueResult> e = s->Enqueue(r);
  EXPECT_TRUE(e.ok()) << e.status().ToString();
  return e.ok() ? e->id : 0;
}

std::map<std::string, int> CountByType(const std::vector<ClaimedJob>& jobs) {
  std::map<std::string, int> out;
  for (const ClaimedJob& j : jobs) ++out[j.type];
  return out;
}

TEST_P(JobStoreConformance, ATypeLimitCapsRunningJobsAndDoesNotHoldBackOthers) {
  StoreConfig c = Config();
  c.limits = {{"[jobs.report] max_running", {"report"}, 2, false}};
  std::unique_ptr<JobStore> limited = Open(c);
  std::vector<std::int64_t> reports;
  for (int i = 0; i < 5; ++i) reports.push_back(AddWith(limited.get(), "report", std::nullopt, 10));
  for (int i = 0; i < 3; ++i) AddWith(limited.get(), "mail");  // lower priority, behind the reports
  Result<std::vector<ClaimedJob>> got = limited->Claim("w1", kDefault, 10);
  ASSERT_TRUE(got.ok()) << got.status().ToString();
  EXPECT_EQ(CountByType(*got), (std::map<std::string, int>{{"mail", 3}, {"report", 2}}));
  // Full: nothing more, from this connection or another one with the same limits.
  EXPECT_TRUE(limited->Claim("w1", kDefault, 10)->empty());
  std::unique_ptr<JobStore> other = Open(c);
  EXPECT_TRUE(other->Claim("w2", kDefault, 10)->empty());
  // One finishes: one more may run. A store without limits (an old worker) is not bound.
  const ClaimedJob& first = (*got)[0].type == "report" ? (*got)[0] : (*got)[1];
  std::vector<CompletionResult> r;
  Completion done{first.id, first.attempt, Completion::Kind::kSucceeded, "{}", 0};
  ASSERT_TRUE(limited->Complete("w1", std::span<const Completion>(&done, 1), &r).ok());
  EXPECT_EQ(CountByType(*other->Claim("w2", kDefault, 10)), (std::map<std::string, int>{{"report", 1}}));
  // A crashed worker's jobs free their slots only when they are recovered.
  EXPECT_TRUE(other->Claim("w2", kDefault, 10)->empty());
  ASSERT_TRUE(store_->Recover("w2", true, "crashed").ok());
  EXPECT_EQ(CountByType(*other->Claim("w3", kDefault, 10)), (std::map<std::string, int>{{"report", 1}}));
}

TEST_P(JobStoreConformance, APerResourceLimitCapsEachResource) {
  StoreConfig c = Config();
  c.limits = {{"[jobs.sync] max_running_per_resource", {"sync"}, 1, true}};
  std::unique_ptr<JobStore> limited = Open(c);
  std::int64_t a1 = AddWith(limited.get(), "sync", "acct-1");
  std::int64_t a2 = AddWith(limited.get(), "sync", "acct-1");
  std::int64_t b1 = AddWith(limited.get(), "sync", "acct-2");
  std::int64_t none = AddWith(limited.get(), "sync");  // no resource: not capped
  std::int64_t none2 = AddWith(limited.get(), "sync");
  Result<std::vector<ClaimedJob>> got = limited->Claim("w1", kDefault, 10);
  ASSERT_TRUE(got.ok()) << got.status().ToString();
  std::set<std::int64_t> ids;
  for (const ClaimedJob& j : *got) ids.insert(j.id);
  EXPECT_EQ(ids, (std::set<std::int64_t>{a1, b1, none, none2}));
  EXPECT_EQ(GetJob(a2).state, JobState::kQueued);
  EXPECT_EQ(GetJob(a2).resource, "acct-1");
  EXPECT_TRUE(limited->Claim("w1", kDefault, 10)->empty());
}

TEST_P(JobStoreConformance, ASharedLimitIsOneBudgetForItsTypes) {
  StoreConfig c = Config();
  c.limits = {{"[limits.smtp]", {"welcome", "digest"}, 3, false},
              {"[jobs.digest] max_running", {"digest"}, 1, false}};
  std::unique_ptr<JobStore> limited = Open(c);
  for (int i = 0; i < 3; ++i) AddWith(limited.get(), "digest", std::nullopt, 5);
  for (int i = 0; i < 3; ++i) AddWith(limited.get(), "welcome");
  EnqueueRequest later;
  later.type = "welcome";
  later.run_at_ms = NowMs() + 60'000;
  ASSERT_TRUE(limited->Enqueue(later).ok());  // not due: neither claimed nor counted
  // Claimed one at a time too: the budget holds across claims.
  std::map<std::string, int> total;
  for (int i = 0; i < 6; ++i) {
    for (auto& [type, n] : CountByType(*limited->Claim("w1", kDefault, 1))) total[type] += n;
  }
  EXPECT_EQ(total, (std::map<std::string, int>{{"digest", 1}, {"welcome", 2}}));
}

TEST_P(JobStoreConformance, ListFiltersByResourceAndRejectsAnEmptyOne) {
  std::int64_t a = AddWith(store_.get(), "x", "room-7");
  AddWith(store_.get(), "x", "room-8");
  AddWith(store_.get(), "x");
  JobFilter f;
  f.resources = {"room-7"};
  Result<std::vector<Job>> jobs = store_->List(f);
  ASSERT_TRUE(jobs.ok());
  ASSERT_EQ(jobs->size(), 1u);
  EXPECT_EQ((*jobs)[0].id, a);
  EnqueueRequest r;
  r.type = "x";
  r.resource = "";
  EXPECT_TRUE(store_->Enqueue(r).status().IsInvalidArgument());
  r.resource = std::string(kMaxResourceBytes + 1, 'r');
  EXPECT_TRUE(store_->Enqueue(r).status().IsInvalidArgument());
}

TEST_P(JobStoreConformance, StatsCountPerQueueAndState) {
  Add("a");
  Add("a");
  EnqueueRequest other;
  other.type = "b";
  other.queue = "other";
  Add(other);
  ClaimN(1);
  ASSERT_TRUE(store_->SetQueuePaused("empty", true).ok());
  Result<std::vector<QueueStats>> stats = store_->Stats();
  ASSERT_TRUE(stats.ok()) << stats.status().ToString();
  ASSERT_EQ(stats->size(), 3u);
  const QueueStats& d = (*stats)[0];
  EXPECT_EQ(d.queue, "default");
  EXPECT_EQ(d.counts[static_cast<int>(JobState::kQueued)], 1);
  EXPECT_EQ(d.counts[static_cast<int>(JobState::kRunning)], 1);
  EXPECT_TRUE(d.oldest_ready_ms.has_value());
  EXPECT_TRUE((*stats)[1].paused);
  EXPECT_EQ((*stats)[2].queue, "other");
}

TEST_P(JobStoreConformance, ListFilters) {
  Add("a");
  std::int64_t b = Add("b");
  Add("a");
  JobFilter f;
  f.types = {"b"};
  Result<std::vector<Job>> jobs = store_->List(f);
  ASSERT_EQ(jobs->size(), 1u);
  EXPECT_EQ((*jobs)[0].id, b);
  f = {};
  f.limit = 2;
  EXPECT_EQ(store_->List(f)->size(), 2u);
  f = {};
  f.states = {JobState::kRunning};
  EXPECT_TRUE(store_->List(f)->empty());
}

// Each list filter matches any of its values; the enqueue-time bounds are strict.
TEST_P(JobStoreConformance, ListFiltersTakeListsAndTimeBounds) {
  const std::int64_t a = AddWith(store_.get(), "a", "r1"), b = AddWith(store_.get(), "b", "r2");
  const std::int64_t c = AddWith(store_.get(), "c", "r1");
  ClaimN(1);  // a runs
  auto ids = [&](const JobFilter& f) {
    std::vector<std::int64_t> out;
    Result<std::vector<Job>> jobs = store_->List(f);
    EXPECT_TRUE(jobs.ok()) << jobs.status().ToString();
    if (jobs.ok())
      for (const Job& j : *jobs) out.push_back(j.id);
    return out;
  };
  JobFilter f;
  f.types = {"a", "c"};
  EXPECT_EQ(ids(f), (std::vector<std::int64_t>{c, a}));
  f.states = {JobState::kQueued, JobState::kSucceeded};
  EXPECT_EQ(ids(f), (std::vector<std::int64_t>{c}));
  f = {};
  f.resources = {"r2", "r1"};
  f.states = {JobState::kRunning, JobState::kQueued};
  EXPECT_EQ(ids(f), (std::vector<std::int64_t>{c, b, a}));
  f.queues = {"default", "other"};
  EXPECT_EQ(ids(f).size(), 3u);
  f.queues = {"other"};
  EXPECT_TRUE(ids(f).empty());
  const std::int64_t first = std::min(
      {store_->Get(a)->enqueued_at_ms, store_->Get(b)->enqueued_at_ms, store_->Get(c)->enqueued_at_ms});
  f = {};
  f.enqueued_after_ms = first - 60'000;
  f.enqueued_before_ms = first + 60'000;
  EXPECT_EQ(ids(f).size(), 3u);
  f.enqueued_before_ms = first;  // strictly before
  EXPECT_TRUE(ids(f).empty());
}

// The dashboard's pages: newest first, each page below the last id of the one before.
TEST_P(JobStoreConformance, ListPagesByIdBelow) {
  std::vector<std::int64_t> ids;
  for (int i = 0; i < 5; ++i) ids.push_back(Add(i % 2 ? "odd" : "even"));
  JobFilter f;
  f.limit = 2;
  f.before_id = ids[4];
  Result<std::vector<Job>> page = store_->List(f);
  ASSERT_TRUE(page.ok()) << page.status().ToString();
  ASSERT_EQ(page->size(), 2u);
  EXPECT_EQ((*page)[0].id, ids[3]);
  EXPECT_EQ((*page)[1].id, ids[2]);
  f.types = {"even"};
  page = store_->List(f);
  ASSERT_EQ(page->size(), 2u);
  EXPECT_EQ((*page)[0].id, ids[2]);
  EXPECT_EQ((*page)[1].id, ids[0]);
}

// The configured types as enqueuers read them: the stored set follows each sync.
TEST_P(JobStoreConformance, SyncJobTypesMakesTheStoredTypesMatch) {
  Result<std::vector<JobTypeDefaults>> none = store_->JobTypes();
  ASSERT_TRUE(none.ok()) << none.status().ToString();
  EXPECT_TRUE(none->empty());
  std::vector<JobTypeDefaults> first = {{"mail", "outbox", 3, 1, false}, {"report", "default", 0, 5, true}};
  ASSERT_TRUE(store_->SyncJobTypes(first).ok());
  EXPECT_EQ(*store_->JobTypes(), first);
  std::vector<JobTypeDefaults> next = {{"mail", "outbox", -2, 7, true}, {"sync", "default", 0, 5, false}};
  ASSERT_TRUE(store_->SyncJobTypes(next).ok());
  EXPECT_EQ(*store_->JobTypes(), next);  // report gone, mail changed, sync added
  ASSERT_TRUE(store_->SyncJobTypes({}).ok());
  EXPECT_TRUE(store_->JobTypes()->empty());
}

// New jobs for the event stream: the newest to start from, then those after it in order.
TEST_P(JobStoreConformance, JobsAfterListsNewJobsOldestFirst) {
  Result<std::vector<JobRef>> none = store_->JobsAfter(-1, 10);
  ASSERT_TRUE(none.ok()) << none.status().ToString();
  EXPECT_TRUE(none->empty());
  std::int64_t a = Add("a");
  Result<std::vector<JobRef>> newest = store_->JobsAfter(-1, 10);
  ASSERT_EQ(newest->size(), 1u);
  EXPECT_EQ((*newest)[0].id, a);
  EnqueueRequest r;
  r.type = "b";
  r.queue = "other";
  std::int64_t b = Add(r), c = Add("c");
  Result<std::vector<JobRef>> after = store_->JobsAfter(a, 1);
  ASSERT_EQ(after->size(), 1u);
  EXPECT_EQ((*after)[0].id, b);
  EXPECT_EQ((*after)[0].queue, "other");
  EXPECT_EQ((*after)[0].type, "b");
  after = store_->JobsAfter(b, 10);
  ASSERT_EQ(after->size(), 1u);
  EXPECT_EQ((*after)[0].id, c);
}

// A job's output is whatever bytes it wrote: invalid UTF-8 and NUL never keep an outcome out.
TEST_P(JobStoreConformance, OutcomesWithAnyBytesAreRecorded) {
  std::int64_t ok = Add("a");
  std::int64_t bad = Add("b");
  std::vector<ClaimedJob> c = ClaimN(2);
  ASSERT_EQ(c.size(), 2u);
  const std::string bytes("out\xff\xfe\0\xed\xa0\x80 end", 13);
  ASSERT_TRUE(store_->UpdateProgress(ok, "w1", 1, 0.5, bytes, std::nullopt).ok());
  EXPECT_EQ(Finish("w1", {ok, 1, Completion::Kind::kSucceeded, bytes}).state, JobState::kSucceeded);
  EXPECT_EQ(Finish("w1", {bad, 1, Completion::Kind::kFailedPermanent, bytes}).state, JobState::kFailed);
  Job j = GetJob(ok);
  ASSERT_TRUE(j.result.has_value());
  EXPECT_EQ(j.result->substr(0, 3), "out");
  EXPECT_EQ(j.result->substr(j.result->size() - 4), " end");
  EXPECT_EQ(GetJob(bad).last_error->substr(0, 3), "out");
}

// What a worker owns, held jobs included: after a claim whose answer was lost, it gives back
// what it never heard of, uncharged.
TEST_P(JobStoreConformance, ClaimsOfListsWhatAWorkerOwnsAndAReleaseGivesItBack) {
  std::int64_t a = Add("a"), b = Add("a");
  Add("a");
  ASSERT_EQ(store_->CompleteAndClaim("w1", {}, nullptr, kDefault, 1, 1)->size(), 2u);
  ASSERT_EQ(ClaimN(1, "w2").size(), 1u);
  Result<std::vector<std::pair<std::int64_t, int>>> owned = store_->ClaimsOf("w1");
  ASSERT_TRUE(owned.ok()) << owned.status().ToString();
  std::sort(owned->begin(), owned->end());
  ASSERT_EQ(*owned, (std::vector<std::pair<std::int64_t, int>>{{a, 1}, {b, 1}}));
  EXPECT_EQ(Finish("w1", {a, 1, Completion::Kind::kReleased, "", 0}).state, JobState::kQueued);
  EXPECT_EQ(GetJob(a).attempts, 0);
  EXPECT_EQ(store_->ClaimsOf("w1")->size(), 1u);
}

// Start-up recovery of one node ("NODE/") leaves the other nodes' jobs alone.
TEST_P(JobStoreConformance, RecoverOfANodePrefixTakesOnlyThatNodesJobs) {
  Add("a");
  Add("a");
  Add("a");
  ASSERT_EQ(ClaimN(1, "n1/worker:default:0@10").size(), 1u);
  ASSERT_EQ(ClaimN(1, "n10/worker:default:0@11").size(), 1u);
  ASSERT_EQ(ClaimN(1, "n2/worker:default:0@12").size(), 1u);
  Result<std::vector<std::int64_t>> r = store_->Recover("n1/", false, "restarted");
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->size(), 1u);
  EXPECT_EQ(store_->Stats()->front().counts[static_cast<int>(JobState::kRunning)], 2);
}

TEST_P(JobStoreConformance, ProgressAndCheckpointReachTheNextAttempt) {
  std::int64_t id = Add("a");
  ClaimedJob c = ClaimN(1).at(0);
  EXPECT_FALSE(c.checkpoint.has_value());
  ASSERT_TRUE(store_->UpdateProgress(id, "w1", c.attempt, 0.4, "page 40/100", R"({"page":40})").ok());
  ASSERT_TRUE(store_->UpdateProgress(id, "w1", c.attempt, 0.5, std::nullopt, std::nullopt).ok());
  Job j = GetJob(id);
  EXPECT_DOUBLE_EQ(*j.progress, 0.5);
  EXPECT_EQ(j.progress_message, "page 40/100");
  ASSERT_TRUE(store_->Recover("w1", true, "worker died").ok());
  ClaimedJob c2 = ClaimN(1).at(0);
  EXPECT_EQ(c2.checkpoint, R"({"page":40})");
}

TEST_P(JobStoreConformance, CompletionAndNextClaimShareOneTransaction) {
  for (int i = 0; i < 4; ++i) Add("a");
  std::vector<ClaimedJob> first = ClaimN(2);
  std::vector<Completion> done;
  for (const ClaimedJob& c : first) done.push_back({c.id, c.attempt, Completion::Kind::kSucceeded, "", 0});
  std::vector<CompletionResult> results;
  Result<std::vector<ClaimedJob>> next =
      store_->CompleteAndClaim("w1", {.done = done}, &results, kDefault, 10, 0);
  ASSERT_TRUE(next.ok());
  EXPECT_EQ(next->size(), 2u);
  ASSERT_EQ(results.size(), 2u);
  EXPECT_EQ(results[0].state, JobState::kSucceeded);
}

// Two processes claim from the same table concurrently: no job is handed out twice.
TEST_P(JobStoreConformance, ConcurrentClaimsFromTwoProcessesNeverOverlap) {
  constexpr int kJobs = 2000;
  std::vector<EnqueueRequest> reqs(kJobs);
  for (auto& r : reqs) r.type = "a";
  ASSERT_TRUE(store_->EnqueueBatch(reqs).ok());
  store_.reset();
  int out[2];
  ASSERT_EQ(pipe(out), 0);
  pid_t kids[2];
  for (int k = 0; k < 2; ++k) {
    kids[k] = fork();
    if (kids[k] == 0) {
      close(out[0]);
      Result<std::unique_ptr<JobStore>> s = OpenJobStore(Config());
      if (!s.ok()) _exit(2);
      std::string worker = "w" + std::to_string(k);
      while (true) {
        Result<std::vector<ClaimedJob>> c = (*s)->Claim(worker, kDefault, 7);
        if (!c.ok()) _exit(3);
        if (c->empty()) break;
        for (const ClaimedJob& j : *c) {
          if (write(out[1], &j.id, sizeof j.id) != sizeof j.id) _exit(4);
        }
      }
      _exit(0);
    }
  }
  close(out[1]);
  std::vector<std::int64_t> ids;
  std::int64_t id;
  while (read(out[0], &id, sizeof id) == sizeof id) ids.push_back(id);
  close(out[0]);
  for (pid_t p : kids) {
    int st;
    waitpid(p, &st, 0);
    EXPECT_TRUE(WIFEXITED(st) && WEXITSTATUS(st) == 0);
  }
  std::set<std::int64_t> unique(ids.begin(), ids.end());
  EXPECT_EQ(ids.size(), static_cast<size_t>(kJobs));
  EXPECT_EQ(unique.size(), static_cast<size_t>(kJobs));
}

TEST_P(JobStoreConformance, SyncSchedulesAddsResetsOnChangedSpecAndDeletesTheRest) {
  std::vector<ScheduleSeed> seeds{{"a", "every 1h", 1000}, {"b", "cron 0 3 * * * in UTC", 2000}};
  ASSERT_TRUE(store_->SyncSchedules(seeds).ok());
  // Same spec: the stored next run stays; a changed spec resets it; "b" is gone, "c" is new.
  std::vector<ScheduleSeed> again{{"a", "every 1h", 9999}, {"c", "every 5m", 3000}};
  ASSERT_TRUE(store_->SyncSchedules(again).ok());
  std::vector<ScheduleState> s = *store_->Schedules();
  ASSERT_EQ(s.size(), 2u);
  EXPECT_EQ(s[0].name, "a");
  EXPECT_EQ(s[0].next_run_ms, 1000);
  EXPECT_EQ(s[1].name, "c");
  EXPECT_EQ(s[1].next_run_ms, 3000);
  std::vector<ScheduleSeed> changed{{"a", "every 2h", 7000}};
  ASSERT_TRUE(store_->SyncSchedules(changed).ok());
  s = *store_->Schedules();
  ASSERT_EQ(s.size(), 1u);
  EXPECT_EQ(s[0].next_run_ms, 7000);
}

TEST_P(JobStoreConformance, AdvanceScheduleEnqueuesAndMovesOnInOneStepAndOnlyOnce) {
  std::vector<ScheduleSeed> seeds{{"tick", "every 1s", 1000}};
  ASSERT_TRUE(store_->SyncSchedules(seeds).ok());
  EnqueueRequest run;
  run.type = "report";
  run.unique_key = "schedule:tick:1000";
  Result<std::vector<EnqueueResult>> r =
      store_->AdvanceSchedule("tick", 1000, 2000, std::span<const EnqueueRequest>(&run, 1), 1000);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  ASSERT_EQ(r->size(), 1u);
  ScheduleState st = store_->Schedules()->front();
  EXPECT_EQ(st.next_run_ms, 2000);
  EXPECT_EQ(st.last_run_ms, 1000);
  EXPECT_EQ(st.last_job_id, r->front().id);
  EXPECT_EQ(st.last_job_state, JobState::kQueued);
  // A second scheduler (or a restarted one) that read the old next_run changes nothing.
  Result<std::vector<EnqueueResult>> again =
      store_->AdvanceSchedule("tick", 1000, 2000, std::span<const EnqueueRequest>(&run, 1), 1000);
  EXPECT_EQ(again.status().code(), Status::Code::kConflict);
  JobFilter all;
  EXPECT_EQ(store_->List(all)->size(), 1u);
  // A skipped slot moves on without a job and keeps the last run.
  ASSERT_TRUE(store_->AdvanceSchedule("tick", 2000, 3000, {}, 2000).ok());
  st = store_->Schedules()->front();
  EXPECT_EQ(st.next_run_ms, 3000);
  EXPECT_EQ(st.last_run_ms, 1000);
  // The last job's state is joined in, and absent once the job is gone.
  ASSERT_TRUE(store_->Cancel(r->front().id).ok());
  EXPECT_EQ(store_->Schedules()->front().last_job_state, JobState::kCancelled);
  ASSERT_TRUE(store_->Delete(r->front().id).ok());
  EXPECT_FALSE(store_->Schedules()->front().last_job_state.has_value());
}

// A row of the schedule's type holding the next slot's key (plain SQL can write one, delayed for
// years) does not silence the schedule: the run is enqueued without the key and recorded as the
// last run, so overlap = false waits for the run, not for that row.
TEST_P(JobStoreConformance, ARowHoldingASlotsKeyDoesNotSilenceTheSchedule) {
  std::vector<ScheduleSeed> seeds{{"tick", "every 1s", 1000}};
  ASSERT_TRUE(store_->SyncSchedules(seeds).ok());
  EnqueueRequest squatter;
  squatter.type = "report";
  squatter.unique_key = "schedule:tick:1000";
  squatter.run_at_ms = 10'413'792'000'000;  // 2300
  const std::int64_t held = store_->Enqueue(squatter)->id;
  EnqueueRequest run;
  run.type = "report";
  run.unique_key = "schedule:tick:1000";
  Result<std::vector<EnqueueResult>> r =
      store_->AdvanceSchedule("tick", 1000, 2000, std::span<const EnqueueRequest>(&run, 1), 1000);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  ASSERT_EQ(r->size(), 1u);
  EXPECT_FALSE(r->front().duplicate);
  EXPECT_EQ(r->front().slot_key_holder, held);
  EXPECT_NE(r->front().id, held);
  Result<Job> job = store_->Get(r->front().id);
  ASSERT_TRUE(job.ok());
  EXPECT_EQ(job->state, JobState::kQueued);
  EXPECT_FALSE(job->unique_key.has_value());
  EXPECT_EQ(store_->Schedules()->front().last_job_id, r->front().id);
}

TEST_P(JobStoreConformance, AdvanceScheduleWithABadRunChangesNothing) {
  std::vector<ScheduleSeed> seeds{{"tick", "every 1s", 1000}};
  ASSERT_TRUE(store_->SyncSchedules(seeds).ok());
  EnqueueRequest bad;
  bad.type = "report";
  bad.payload = "{not json";
  EXPECT_FALSE(
      store_->AdvanceSchedule("tick", 1000, 2000, std::span<const EnqueueRequest>(&bad, 1), 1000).ok());
  EXPECT_EQ(store_->Schedules()->front().next_run_ms, 1000);
}

TEST_P(JobStoreConformance, TriggerAndPauseNeedAStoredSchedule) {
  EnqueueRequest run;
  run.type = "report";
  EXPECT_EQ(store_->TriggerSchedule("nope", run).status().code(), Status::Code::kNotFound);
  EXPECT_EQ(store_->SetSchedulePaused("nope", true).code(), Status::Code::kNotFound);
  JobFilter all;
  EXPECT_TRUE(store_->List(all)->empty());  // the failed trigger enqueued nothing
  std::vector<ScheduleSeed> seeds{{"nightly", "cron 0 3 * * * in UTC", 1000}};
  ASSERT_TRUE(store_->SyncSchedules(seeds).ok());
  Result<EnqueueResult> t = store_->TriggerSchedule("nightly", run);
  ASSERT_TRUE(t.ok()) << t.status().ToString();
  EXPECT_EQ(store_->Schedules()->front().last_job_id, t->id);
  EXPECT_EQ(store_->Schedules()->front().next_run_ms, 1000);  // the timetable is untouched
  ASSERT_TRUE(store_->SetSchedulePaused("nightly", true).ok());
  EXPECT_TRUE(store_->Schedules()->front().paused);
}

// A worker waits on the notifier; only another connection's commit may count as a change.
TEST_P(JobStoreConformance, ChangeNotifierSeesOtherConnectionsCommitsNotItsOwn) {
  Result<std::unique_ptr<ChangeNotifier>> watch = store_->WatchChanges();
  ASSERT_TRUE(watch.ok()) << watch.status().ToString();
  ChangeNotifier& n = **watch;
  Add("mine");
  n.Consume();
  EXPECT_FALSE(n.Changed());

  std::unique_ptr<JobStore> other = Open();
  EnqueueRequest r;
  r.type = "theirs";
  ASSERT_TRUE(other->Enqueue(r).ok());
  if (n.fd() >= 0) {
    EXPECT_TRUE(Readable(n.fd(), 5000)) << "no wake-up for another connection's commit";
    n.Consume();
  }
  EXPECT_TRUE(n.Changed());
  EXPECT_FALSE(n.Changed());  // reported once
}

TEST_P(JobStoreConformance, MaintenanceRunsBesideOtherConnections) {
  std::unique_ptr<JobStore> other = Open();
  for (int i = 0; i < 50; ++i) Add("a");
  ASSERT_EQ(ClaimN(50).size(), 50u);
  Result<MaintenanceReport> m = other->Maintain();
  ASSERT_TRUE(m.ok()) << m.status().ToString();
  EXPECT_GE(m->released_bytes, 0);
  EXPECT_EQ(store_->Stats()->front().counts[static_cast<int>(JobState::kRunning)], 50);
}

INSTANTIATE_TEST_SUITE_P(Sqlite, JobStoreConformance,
                         ::testing::Values(Backend{"sqlite",
                                                   [](const std::string& dir) {
                                                     StoreConfig c;
                                                     c.database = dir + "/jobs.db";
                                                     return c;
                                                   }}),
                         [](const ::testing::TestParamInfo<Backend>& info) { return info.param.name; });

// One PostgreSQL server per test process, started on first use and stopped at exit; each test
// gets a schema of its own.
StoreConfig FreshPostgres(const std::string&) {
  std::string error;
  testing::PostgresServer* server = testing::PostgresServer::Shared(&error);
  if (!server) ADD_FAILURE() << "no PostgreSQL server for the tests: " << error;
  static int tests = 0;
  StoreConfig c;
  c.database = server ? server->Uri("tests") : "postgresql:///nowhere?host=/nonexistent";
  c.schema = "t" + std::to_string(++tests);
  return c;
}

INSTANTIATE_TEST_SUITE_P(Postgres, JobStoreConformance, ::testing::Values(Backend{"postgres", FreshPostgres}),
                         [](const ::testing::TestParamInfo<Backend>& info) { return info.param.name; });

}  // namespace
}  // namespace drover
