// HandlerPool: the threads a worker runs in-process handlers on. The worker's event loop
// submits jobs and collects outcomes; a handler never touches the store. Thread-safe.
// Created after fork, in the worker only.
#ifndef DROVER_JOBS_HANDLER_POOL_H_
#define DROVER_JOBS_HANDLER_POOL_H_

#include <atomic>
#include <condition_variable>
#include <deque>
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

  // Queues `job` for `fn`. `cancel` must outlive the call.
  void Submit(ClaimedJob job, const Handler* fn, const std::atomic<bool>* cancel);
  // Wakes a thread for what Submit queued: after a batch of Submits, and on a timer while
  // HasQueued(), so tasks behind slow handlers get threads of their own.
  void Kick();
  bool HasQueued();
  // Readable whenever outcomes or progress reports are waiting.
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
  void Loop();
  void Notify();

  UniqueFd event_fd_;
  std::mutex mu_;  // guards tasks_, idle_, stop_
  std::condition_variable cv_;
  std::deque<Task> tasks_;
  int idle_ = 0;  // threads waiting on cv_
  bool stop_ = false;
  std::mutex out_mu_;  // guards outcomes_, progress_
  std::vector<HandlerOutcome> outcomes_;
  std::vector<HandlerProgress> progress_;
  std::vector<std::thread> threads_;
};

}  // namespace drover

#endif  // DROVER_JOBS_HANDLER_POOL_H_
