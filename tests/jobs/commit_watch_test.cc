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
  bool woken_ = false, changed_ = false;
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

TEST(CommitWatchTest, OwnWritesWithoutAWakeUpCostNothing) {
  auto n = std::make_unique<ScriptedNotifier>();
  ScriptedNotifier& script = *n;
  CommitWatch w(std::move(n));
  script.changed_ = true;  // not looked at: nothing woke the fd
  EXPECT_FALSE(w.AfterOwnWrite(0));
  EXPECT_EQ(w.recheck_at_us(), 0);
}

}  // namespace
}  // namespace drover
