#include "jobs/handler_pool.h"

#include <gtest/gtest.h>

#include <atomic>
#include <condition_variable>
#include <mutex>

#include "tests/readable.h"

namespace drover {
namespace {

HandlerOutcome Outcome(HandlerResult r) { return {7, 2, std::move(r)}; }

TEST(HandlerCompletionTest, TheHandlersVerdictBecomesTheAttemptsOutcome) {
  using K = Completion::Kind;
  Completion ok = HandlerCompletion(Outcome(HandlerResult::Ok("{\"n\":1}")), false, false, Duration(0));
  EXPECT_EQ(ok.kind, K::kSucceeded);
  EXPECT_EQ(ok.output, "{\"n\":1}");
  EXPECT_EQ(ok.id, 7);
  EXPECT_EQ(ok.attempt, 2);
  EXPECT_EQ(HandlerCompletion(Outcome(HandlerResult::Retry("busy")), false, false, Duration(0)).kind,
            K::kFailed);
  EXPECT_EQ(HandlerCompletion(Outcome(HandlerResult::Fail("bad input")), false, false, Duration(0)).kind,
            K::kFailedPermanent);
  // Stopped by a shutdown: re-queued whatever it said; a success still counts.
  EXPECT_EQ(HandlerCompletion(Outcome(HandlerResult::Retry("cancelled")), true, false, Duration(0)).kind,
            K::kInterrupted);
  EXPECT_EQ(HandlerCompletion(Outcome(HandlerResult::Ok()), true, false, Duration(0)).kind, K::kSucceeded);
  Completion late =
      HandlerCompletion(Outcome(HandlerResult::Retry("cancelled")), false, true, Duration(30'000));
  EXPECT_EQ(late.kind, K::kFailed);
  EXPECT_EQ(late.output, "timed out after 30s: cancelled");
}

// A handler that returns once the test opens its gate.
class Gate {
 public:
  void Open() {
    std::lock_guard<std::mutex> lock(mu_);
    open_ = true;
    cv_.notify_all();
  }
  Handler handler() {
    return [this](JobContext&) {
      std::unique_lock<std::mutex> lock(mu_);
      cv_.wait(lock, [&] { return open_; });
      return HandlerResult::Ok();
    };
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  bool open_ = false;
};

class HandlerPoolTest : public testing::Test {
 protected:
  void SetUp() override {
    Result<std::unique_ptr<HandlerPool>> p = HandlerPool::Create(1);
    ASSERT_TRUE(p.ok()) << p.status().ToString();
    pool_ = std::move(p).value();
  }
  void Submit(std::int64_t id, const Handler* fn) {
    ClaimedJob job;
    job.id = id;
    job.attempt = 1;
    pool_->Submit(std::move(job), fn, &cancel_);
  }
  bool Readable(int timeout_ms) { return drover::Readable(pool_->event_fd(), timeout_ms); }
  std::vector<std::int64_t> DrainIds() {
    std::vector<HandlerOutcome> outcomes;
    std::vector<HandlerProgress> progress;
    pool_->Drain(&outcomes, &progress);
    std::vector<std::int64_t> ids;
    for (const HandlerOutcome& o : outcomes) ids.push_back(o.id);
    return ids;
  }

  std::atomic<bool> cancel_{false};
  std::unique_ptr<HandlerPool> pool_;
};

// A batch of fast handlers wakes the worker when the batch is done, not once per outcome, even
// when the worker drains as fast as it can.
TEST_F(HandlerPoolTest, ABatchOfFastHandlersWakesTheWorkerAtItsEnd) {
  const Handler fast = [](JobContext&) { return HandlerResult::Ok(); };
  constexpr int kJobs = 2000;
  for (int i = 1; i <= kJobs; ++i) Submit(i, &fast);
  pool_->Kick();
  int wakes = 0;
  size_t drained = 0;
  while (drained < kJobs) {
    ASSERT_TRUE(Readable(10'000)) << drained << " of " << kJobs << " outcomes after 10s";
    ++wakes;
    drained += DrainIds().size();
  }
  EXPECT_EQ(drained, static_cast<size_t>(kJobs));
  // One when the last task is taken (the others' outcomes), one for the last outcome.
  EXPECT_LE(wakes, 2);
  EXPECT_FALSE(pool_->HasQueued());
}

// An outcome does not wait behind a slow task that took the last place in the queue.
TEST_F(HandlerPoolTest, AnOutcomeDoesNotWaitBehindASlowTask) {
  const Handler fast = [](JobContext&) { return HandlerResult::Ok(); };
  Gate gate;
  const Handler slow = gate.handler();
  Submit(1, &fast);
  Submit(2, &slow);
  pool_->Kick();
  ASSERT_TRUE(Readable(10'000));
  EXPECT_EQ(DrainIds(), std::vector<std::int64_t>{1});
  EXPECT_FALSE(Readable(50));  // job 2 still runs
  gate.Open();
  ASSERT_TRUE(Readable(10'000));
  EXPECT_EQ(DrainIds(), std::vector<std::int64_t>{2});
}

// While tasks are queued behind a slow one, outcomes wait for the worker's Drain (on its Kick
// timer), not for the queue to run empty.
TEST_F(HandlerPoolTest, OutcomesWhileTasksAreQueuedWaitForTheWorkersDrain) {
  Gate first, second;
  const Handler slow1 = first.handler(), slow2 = second.handler();
  Submit(1, &slow1);
  Submit(2, &slow2);
  Submit(3, &slow2);
  pool_->Kick();
  first.Open();  // job 1 ends; the thread goes on to job 2, with job 3 queued
  EXPECT_FALSE(Readable(50));
  std::vector<std::int64_t> ids;
  for (int i = 0; i < 1000 && ids.empty(); ++i) {
    usleep(10'000);
    ids = DrainIds();
  }
  EXPECT_EQ(ids, std::vector<std::int64_t>{1});
  EXPECT_TRUE(pool_->HasQueued());
  second.Open();
  for (int i = 0; i < 1000 && ids.size() < 3; ++i) {
    ASSERT_TRUE(Readable(10'000));
    for (std::int64_t id : DrainIds()) ids.push_back(id);
  }
  EXPECT_EQ(ids, (std::vector<std::int64_t>{1, 2, 3}));
}

}  // namespace
}  // namespace drover
