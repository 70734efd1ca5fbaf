#include "jobs/commit_watch.h"

#include <sched.h>
#include <time.h>

namespace drover {
namespace {

// How long OnReadable waits for a commit in progress: 120 steps of 25 µs and a look each, some 4 ms.
constexpr int kCommitWaitSteps = 120;

}  // namespace

bool CommitWatch::Changed() {
  if (!notifier_->Changed()) return false;
  recheck_at_us_ = 0;
  return true;
}

bool CommitWatch::Look(std::int64_t now_us) {
  if (now_us >= quiet_until_us_) return true;
  held_ = true;
  recheck_at_us_ = quiet_until_us_;
  return false;
}

void CommitWatch::StartRechecks(std::int64_t now_us) {
  recheck_step_ = 0;
  recheck_at_us_ = now_us + 1000;
}

bool CommitWatch::OnReadable(std::int64_t now_us) {
  if (!notifier_->Consume()) return false;
  if (held_) return false;  // a look is due at the end of the quiet gap anyway
  // The wake-up may precede the commit becoming visible (SQLite: the WAL write comes before the
  // wal-index update, which wakes nobody): look again for a moment, then on a short timer.
  for (int i = 0; i < 20; ++i) {
    if (Changed()) return Look(now_us);
    if (i < 4) {
      sched_yield();
    } else {
      timespec ts{0, 10'000};
      nanosleep(&ts, nullptr);
    }
  }
  // A committing writer (an fsync under way) shows its change in a millisecond or two: wait for
  // it here, as the timer below would only look again a millisecond later. Bounded: a writer
  // that holds its lock longer (a large transaction spilling to the WAL) is left to the timer.
  for (int i = 0; i < kCommitWaitSteps && notifier_->CommitInProgress(); ++i) {
    timespec ts{0, 25'000};
    nanosleep(&ts, nullptr);
    if (Changed()) return Look(now_us);
  }
  if (Changed()) return Look(now_us);
  StartRechecks(now_us);
  return false;
}

bool CommitWatch::AfterOwnWrite(std::int64_t now_us) {
  // Our own commit's wake-ups are pending by the time it returns: drop them rather than spin on
  // them, and look once for anyone else's commit that may have been among them.
  if (!notifier_->Consume() || held_) return false;
  if (Changed()) return Look(now_us);
  StartRechecks(now_us);
  return false;
}

bool CommitWatch::OnRecheck(std::int64_t now_us) {
  recheck_at_us_ = 0;
  if (held_) {
    held_ = now_us < quiet_until_us_;
    if (held_) recheck_at_us_ = quiet_until_us_;
    return !held_;
  }
  if (Changed()) return Look(now_us);
  if (++recheck_step_ < 4) recheck_at_us_ = now_us + (1000LL << (2 * recheck_step_));
  return false;
}

}  // namespace drover
