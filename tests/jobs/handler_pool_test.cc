#include "jobs/handler_pool.h"

#include <gtest/gtest.h>

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

}  // namespace
}  // namespace drover
