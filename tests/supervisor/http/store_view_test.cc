#include "supervisor/http/store_view.h"

#include <gtest/gtest.h>

namespace drover {
namespace {

TEST(StoreViewTest, ReadsBackAsWritten) {
  StoreView v;
  v.read_us = 123;
  QueueStats q;
  q.queue = "mail";
  q.paused = true;
  q.counts[static_cast<int>(JobState::kFailed)] = 4;
  q.oldest_ready_ms = 99;
  q.finished_last_minute = 7;
  q.finished_last_5_minutes = 30;
  QueueStats idle;
  idle.queue = "idle";
  v.queues = {q, idle};
  ScheduleState s;
  s.name = "nightly";
  s.next_run_ms = 5;
  s.last_run_ms = 4;
  v.schedules = {s};
  Result<StoreView> back = ParseStoreView(StoreViewJson(v));
  ASSERT_TRUE(back.ok()) << back.status().ToString();
  EXPECT_EQ(back->read_us, 123);
  ASSERT_EQ(back->queues.size(), 2u);
  EXPECT_EQ(back->queues[0].queue, "mail");
  EXPECT_TRUE(back->queues[0].paused);
  EXPECT_EQ(back->queues[0].counts[static_cast<int>(JobState::kFailed)], 4);
  EXPECT_EQ(back->queues[0].oldest_ready_ms, 99);
  EXPECT_EQ(back->queues[0].finished_last_5_minutes, 30);
  EXPECT_FALSE(back->queues[1].oldest_ready_ms.has_value());
  ASSERT_EQ(back->schedules.size(), 1u);
  EXPECT_EQ(back->schedules[0].last_run_ms, 4);
}

TEST(StoreViewTest, WhatIsNotAViewIsRefused) {
  for (const char* text :
       {"", "error: x", "{}", "{\"read_us\":1,\"queues\":[{\"queue\":\"a\"}],\"schedules\":[]}",
        "{\"read_us\":1,\"queues\":[{\"queue\":\"a\",\"paused\":false,\"counts\":[1],"
        "\"oldest_ready_ms\":null,\"last_minute\":0,\"last_5_minutes\":0}],\"schedules\":[]}"}) {
    EXPECT_TRUE(ParseStoreView(text).status().IsInvalidArgument()) << text;
  }
}

}  // namespace
}  // namespace drover
