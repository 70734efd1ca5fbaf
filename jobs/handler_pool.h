// HandlerPool: the threads a worker runs in-process handlers on. The worker's event loop
// submits jobs and collects outcomes; a handler never touches the store. The public calls come
// from one thread, the worker's loop. Created after fork, in the worker only.
#ifndef DROVER_JOBS_HANDLER_POOL_H_
#define DROVER_JOBS_HANDLER_POOL_H_

#include <atomic>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include "common/unique_fd.h"
#include "jobs/handler.h"
#include "jobs/job.h"

namespace drover {

struct HandlerOutcome {
  std::int64_t id = 0;
  int attempt = 0;
  HandlerResult result;
};

// The attempt's outcome as the store records it: a handler's Retry fails the attempt, Fail fails
// the job; a handler stopped by a shutdown (`interrupted`) is re-queued, one stopped by its timeout
// says so. The retry delay is the caller's.
Completion HandlerCompletion(HandlerOutcome o, bool interrupted, bool timed_out, Duration timeout);

struct HandlerProgress {
  std::int64_t id = 0;
  int attempt = 0;
  double fraction = 0;
  std::string message;
  std::optional<std::string> checkpoint;
};

class HandlerPool {
 public:
  // Starts `threads` threads. Fails if the eventfd cannot be created.
  static Result<std::unique_ptr<HandlerPool>> Create(int threads);
  ~HandlerPool();  // waits for running handlers to return

  // Adds `job` for `fn` to the next batch. `cancel` must outlive the call.
  void Submit(ClaimedJob job, const Handler* fn, const std::atomic<bool>* cancel);
  // Queues the batch Submit built (one lock for all of it) and wakes a thread for it: after a
  // batch of Submits, and on a timer while HasQueued(), so tasks behind slow handlers get
  // threads of their own.
  void Kick();
  bool HasQueued();
  // Readable when a progress report waits, and when outcomes wait and no task is queued. While
  // tasks are queued, a thread that finishes one goes on to the next without a wake-up: a batch
  // of fast handlers then wakes the worker once, at its end. Meanwhile the worker Drain()s on
  // its Kick() timer.
  int event_fd() const { return event_fd_.get(); }
  // Takes what finished and what was reported since the last call.
  void Drain(std::vector<HandlerOutcome>* outcomes, std::vector<HandlerProgress>* progress);

 private:
  struct Task {
    std::int64_t queued_us;
    ClaimedJob job;
    const Handler* fn;
    const std::atomic<bool>* cancel;
  };
  HandlerPool() = default;
  bool Queued() const { return next_ < tasks_.size(); }  // with mu_ held
  void Loop();
  void Notify();
  void SignalOutcomes();  // Notify() once for the outcomes waiting, if any

  UniqueFd event_fd_;
  std::vector<Task> batch_;  // submitted, not queued yet: the loop's thread only
  std::mutex mu_;            // guards tasks_, idle_, stop_
  std::condition_variable cv_;
  // Queued: tasks_[next_] on. Not a deque, which allocates a block per task this large (freed
  // then by the thread that ran it, against the loop's allocations: glibc's arena lock).
  std::vector<Task> tasks_;
  size_t next_ = 0;
  int idle_ = 0;  // threads waiting on cv_
  bool stop_ = false;
  std::mutex out_mu_;  // guards outcomes_, progress_, signalled_
  std::vector<HandlerOutcome> outcomes_;
  bool signalled_ = false;  // outcomes_ notified, not drained yet
  std::vector<HandlerProgress> progress_;
  std::vector<std::thread> threads_;
};

}  // namespace drover

#endif  // DROVER_JOBS_HANDLER_POOL_H_
