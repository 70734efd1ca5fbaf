// CommitWatch: when an idle worker should look for work another process committed. It wraps
// the store's ChangeNotifier: a wake-up whose change is not visible yet waits a few ms for a
// commit in progress; that, and this process's own commits (whose wake-ups can hide someone
// else's), lead to looks again after 1, 4, 16 and 64 ms.
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

  // When to look again; 0: no look pending.
  std::int64_t recheck_at_us() const { return recheck_at_us_; }

 private:
  bool Changed();
  void StartRechecks(std::int64_t now_us);

  std::unique_ptr<ChangeNotifier> notifier_;
  std::int64_t recheck_at_us_ = 0;
  int recheck_step_ = 0;
};

}  // namespace drover

#endif  // DROVER_JOBS_COMMIT_WATCH_H_
