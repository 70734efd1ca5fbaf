#include "common/timer_set.h"

#include <gtest/gtest.h>

namespace drover {
namespace {

using Key = TimerSet::Key;

TEST(TimerSetTest, NextIsTheEarliestDeadlineAndTakeDueDisarmsInOrder) {
  TimerSet t;
  EXPECT_EQ(t.Next(), TimerSet::kNever);
  t.Set({1, 0}, 500);
  t.Set({2, 7}, 200);
  t.Set({2, 8}, 900);
  EXPECT_EQ(t.Next(), 200);
  std::vector<Key> due = t.TakeDue(500);
  ASSERT_EQ(due.size(), 2u);
  EXPECT_EQ(due[0], (Key{2, 7}));
  EXPECT_EQ(due[1], (Key{1, 0}));
  EXPECT_FALSE(t.Armed({1, 0}));
  EXPECT_TRUE(t.Armed({2, 8}));
  EXPECT_EQ(t.Next(), 900);
  EXPECT_TRUE(t.TakeDue(899).empty());
}

TEST(TimerSetTest, SetReplacesAndSetEarliestOnlyMovesForward) {
  TimerSet t;
  t.Set({1, 0}, 500);
  t.Set({1, 0}, 800);
  EXPECT_EQ(t.Next(), 800);
  t.SetEarliest({1, 0}, 900);
  EXPECT_EQ(t.Next(), 800);
  t.SetEarliest({1, 0}, 300);
  EXPECT_EQ(t.Next(), 300);
  t.Clear({1, 0});
  EXPECT_EQ(t.Next(), TimerSet::kNever);
}

TEST(TimerSetTest, TimeoutRoundsUpAndClamps) {
  TimerSet t;
  EXPECT_EQ(t.TimeoutMs(0, 1000), 1000);
  t.Set({1, 0}, 1500);
  EXPECT_EQ(t.TimeoutMs(0, 1000), 2);
  EXPECT_EQ(t.TimeoutMs(1400, 1000), 1);
  EXPECT_EQ(t.TimeoutMs(2000, 1000), 0);  // overdue
  EXPECT_EQ(t.TimeoutMs(0, 1000, 700), 1);
  EXPECT_EQ(t.TimeoutMs(0, 1), 1);
}

}  // namespace
}  // namespace drover
