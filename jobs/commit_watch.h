// CommitWatch: when an idle worker should look for work another process committed. It wraps
// the store's ChangeNotifier: a wake-up whose change is not visible yet waits a few ms for a
// commit in progress; that, and this process's own commits (whose wake-ups can hide someone
// else's), lead to looks again after 1, 4, 16 and 64 ms. After a claim that found nothing, a
// change seen within kQuietGapUs waits for the gap's end and is looked at once: a flood of
// wake-ups that bring no work (on PostgreSQL anyone may NOTIFY the channel) costs an idle worker
// at most one claim per gap, while a wake-up after a claim that found work is answered at once.
// Not thread-safe.
#ifndef DROVER_JOBS_COMMIT_WATCH_H_
#define DROVER_JOBS_COMMIT_WATCH_H_

#include <cstdint>
#include <memory>

#include "jobs/store/change_notifier.h"

namespace drover {

class CommitWatch {
 public:
  explicit CommitWatch(std::unique_ptr<ChangeNotifier> notifier) : notifier_(std::move(notifier)) {}

  int fd() const { return notifier_->fd(); }
  // True, once, when fd() was replaced (see ChangeNotifier::FdReplaced).
  bool FdReplaced() { return notifier_->FdReplaced(); }
  // Each returns true when another process's commit is visible now (then: claim, check cancels).
  // fd() was readable:
  bool OnReadable(std::int64_t now_us);
  // This process just committed:
  bool AfterOwnWrite(std::int64_t now_us);
  // recheck_at_us() has come:
  bool OnRecheck(std::int64_t now_us);
  // A claim ended: whether it found work.
  void AfterClaim(std::int64_t now_us, bool found) { quiet_until_us_ = found ? 0 : now_us + kQuietGapUs; }

  static constexpr std::int64_t kQuietGapUs = 5000;

  // When to look again; 0: no look pending.
  std::int64_t recheck_at_us() const { return recheck_at_us_; }

 private:
  bool Changed();
  // A change is visible: true to look now, or false and a look due at the end of the quiet gap.
  bool Look(std::int64_t now_us);
  void StartRechecks(std::int64_t now_us);

  std::unique_ptr<ChangeNotifier> notifier_;
  std::int64_t recheck_at_us_ = 0;
  int recheck_step_ = 0;
  std::int64_t quiet_until_us_ = 0;
  bool held_ = false;  // a change seen in the quiet gap, to look at when it ends
};

}  // namespace drover

#endif  // DROVER_JOBS_COMMIT_WATCH_H_
