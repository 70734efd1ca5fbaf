#include "jobs/commit_watch.h"

#include <gtest/gtest.h>

namespace drover {
namespace {

// A notifier the test drives: what a wake-up was about, and when a change becomes visible.
class ScriptedNotifier : public ChangeNotifier {
 public:
  int fd() const override { return -1; }
  bool Consume() override { return std::exchange(woken_, false); }
  bool Changed() override { return std::exchange(changed_, false); }
  // In progress for `committing_` more looks, then the change is visible (unless `forever_`).
  bool CommitInProgress() override {
    if (forever_) return true;
    if (committing_ == 0) return false;
    if (--committing_ == 0) changed_ = true;
    return true;
  }
  bool woken_ = false, changed_ = false, forever_ = false;
  int committing_ = 0;
};

TEST(CommitWatchTest, AVisibleChangeIsReportedAtOnce) {
  auto n = std::make_unique<ScriptedNotifier>();
  ScriptedNotifier& script = *n;
  CommitWatch w(std::move(n));
  script.woken_ = script.changed_ = true;
  EXPECT_TRUE(w.OnReadable(0));
  EXPECT_EQ(w.recheck_at_us(), 0);
  EXPECT_FALSE(w.OnReadable(0));  // a spurious wake-up
  EXPECT_EQ(w.recheck_at_us(), 0);
}

TEST(CommitWatchTest, AChangeNotVisibleYetIsLookedForAgainAtGrowingIntervals) {
  auto n = std::make_unique<ScriptedNotifier>();
  ScriptedNotifier& script = *n;
  CommitWatch w(std::move(n));
  script.woken_ = true;
  EXPECT_FALSE(w.OnReadable(0));
  EXPECT_EQ(w.recheck_at_us(), 1000);
  EXPECT_FALSE(w.OnRecheck(1000));
  EXPECT_EQ(w.recheck_at_us(), 1000 + 4000);
  EXPECT_FALSE(w.OnRecheck(5000));
  EXPECT_EQ(w.recheck_at_us(), 5000 + 16000);
  EXPECT_FALSE(w.OnRecheck(21000));
  EXPECT_EQ(w.recheck_at_us(), 21000 + 64000);
  EXPECT_FALSE(w.OnRecheck(85000));
  EXPECT_EQ(w.recheck_at_us(), 0);  // gave up: the poll covers the rest

  script.woken_ = true;
  EXPECT_FALSE(w.AfterOwnWrite(100000));  // own commit's wake-up: look again shortly
  EXPECT_EQ(w.recheck_at_us(), 101000);
  script.changed_ = true;
  EXPECT_TRUE(w.OnRecheck(101000));
  EXPECT_EQ(w.recheck_at_us(), 0);
}

// A flood of wake-ups that bring no work: after a claim that found nothing, the changes seen
// within the quiet gap make one look at its end; after a claim that found work, none waits.
TEST(CommitWatchTest, AfterAnEmptyClaimWakeUpsWithinTheGapMakeOneLookAtItsEnd) {
  auto n = std::make_unique<ScriptedNotifier>();
  ScriptedNotifier& script = *n;
  CommitWatch w(std::move(n));
  const std::int64_t gap = CommitWatch::kQuietGapUs;
  w.AfterClaim(10'000, false);
  for (std::int64_t t = 10'100; t < 10'000 + gap; t += 500) {
    script.woken_ = script.changed_ = true;
    EXPECT_FALSE(w.OnReadable(t)) << t;
    EXPECT_EQ(w.recheck_at_us(), 10'000 + gap);
  }
  script.woken_ = true;
  EXPECT_FALSE(w.AfterOwnWrite(10'200));
  EXPECT_EQ(w.recheck_at_us(), 10'000 + gap);
  EXPECT_TRUE(w.OnRecheck(10'000 + gap)) << "one look for all of them";
  EXPECT_EQ(w.recheck_at_us(), 0);

  w.AfterClaim(20'000, true);
  script.woken_ = script.changed_ = true;
  EXPECT_TRUE(w.OnReadable(20'100)) << "work came last time: look at once";
  w.AfterClaim(30'000, false);
  script.woken_ = script.changed_ = true;
  EXPECT_TRUE(w.OnReadable(30'000 + gap)) << "the gap is over";
}

TEST(CommitWatchTest, OwnWritesWithoutAWakeUpCostNothing) {
  auto n = std::make_unique<ScriptedNotifier>();
  ScriptedNotifier& script = *n;
  CommitWatch w(std::move(n));
  script.changed_ = true;  // not looked at: nothing woke the fd
  EXPECT_FALSE(w.AfterOwnWrite(0));
  EXPECT_EQ(w.recheck_at_us(), 0);
}

// A writer in the middle of its commit (an fsync): the change is waited for, not left to the
// 1 ms timer; a writer that keeps its lock is waited for only so long.
TEST(CommitWatchTest, ACommitInProgressIsWaitedForBriefly) {
  auto n = std::make_unique<ScriptedNotifier>();
  ScriptedNotifier& script = *n;
  CommitWatch w(std::move(n));
  script.woken_ = true;
  script.committing_ = 10;
  EXPECT_TRUE(w.OnReadable(0));
  EXPECT_EQ(w.recheck_at_us(), 0);

  script.woken_ = true;
  script.forever_ = true;
  EXPECT_FALSE(w.OnReadable(0));
  EXPECT_EQ(w.recheck_at_us(), 1000);
}

}  // namespace
}  // namespace drover
