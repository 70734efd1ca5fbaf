#include "jobs/handler_pool.h"

#include <sys/eventfd.h>
#include <unistd.h>

#include <exception>
#include <iterator>

#include "common/time_util.h"

namespace drover {

Result<std::unique_ptr<HandlerPool>> HandlerPool::Create(int threads) {
  std::unique_ptr<HandlerPool> pool(new HandlerPool());
  pool->event_fd_.Reset(eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
  if (!pool->event_fd_) return Status::FromErrno("eventfd");
  for (int i = 0; i < threads; ++i) pool->threads_.emplace_back([p = pool.get()] { p->Loop(); });
  return pool;
}

HandlerPool::~HandlerPool() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  for (std::thread& t : threads_) t.join();
}

void HandlerPool::Submit(ClaimedJob job, const Handler* fn, const std::atomic<bool>* cancel) {
  batch_.push_back({0, std::move(job), fn, cancel});
}

// A wake-up costs more than a fast handler, so threads are added only where tasks wait: a
// thread that takes a task wakes another when the next one has already waited a while. Fast
// handlers are then drained by one thread without a wake-up per job, while slow ones fan out
// to every thread (the worker's timer Kick()s while tasks are queued).
constexpr std::int64_t kWaitBeforeWakeUs = 1000;

bool HandlerPool::HasQueued() {
  std::lock_guard<std::mutex> lock(mu_);
  return !batch_.empty() || Queued();
}

void HandlerPool::Kick() {
  bool wake;
  {
    const std::int64_t now = MonotonicUs();
    for (Task& t : batch_) t.queued_us = now;
    std::lock_guard<std::mutex> lock(mu_);
    if (!Queued()) {
      tasks_.swap(batch_);  // the usual case: both keep their capacity
      next_ = 0;
    } else if (!batch_.empty()) {
      tasks_.erase(tasks_.begin(), tasks_.begin() + static_cast<std::ptrdiff_t>(next_));
      next_ = 0;
      std::move(batch_.begin(), batch_.end(), std::back_inserter(tasks_));
    }
    batch_.clear();
    bool none_busy = idle_ == static_cast<int>(threads_.size());
    wake = idle_ > 0 && Queued() && (none_busy || now - tasks_[next_].queued_us > kWaitBeforeWakeUs);
  }
  if (wake) cv_.notify_one();
}

void HandlerPool::Notify() {
  std::uint64_t one = 1;
  (void)!write(event_fd_.get(), &one, sizeof one);
}

void HandlerPool::SignalOutcomes() {
  {
    std::lock_guard<std::mutex> lock(out_mu_);
    if (outcomes_.empty() || signalled_) return;
    signalled_ = true;
  }
  Notify();
}

void HandlerPool::Drain(std::vector<HandlerOutcome>* outcomes, std::vector<HandlerProgress>* progress) {
  std::uint64_t n;
  (void)!read(event_fd_.get(), &n, sizeof n);
  std::lock_guard<std::mutex> lock(out_mu_);
  signalled_ = false;
  outcomes->reserve(outcomes->size() + outcomes_.size());
  for (HandlerOutcome& o : outcomes_) outcomes->push_back(std::move(o));
  for (HandlerProgress& p : progress_) progress->push_back(std::move(p));
  outcomes_.clear();
  progress_.clear();
}

void HandlerPool::Loop() {
  while (true) {
    Task task;
    bool more, emptied;
    {
      std::unique_lock<std::mutex> lock(mu_);
      if (!Queued()) {  // about to idle: what finished goes to the worker now
        lock.unlock();
        SignalOutcomes();
        lock.lock();
      }
      ++idle_;
      cv_.wait(lock, [&] { return stop_ || Queued(); });
      --idle_;
      if (!Queued()) return;
      task = std::move(tasks_[next_++]);
      emptied = !Queued();
      more = !emptied && idle_ > 0 && MonotonicUs() - tasks_[next_].queued_us > kWaitBeforeWakeUs;
    }
    if (more) cv_.notify_one();
    // Outcomes that finished while tasks were queued must not wait behind this one, which may be slow.
    if (emptied) SignalOutcomes();
    JobContext ctx;
    ctx.id = task.job.id;
    ctx.type = std::move(task.job.type);
    ctx.queue = std::move(task.job.queue);
    ctx.payload = std::move(task.job.payload);
    ctx.attempt = task.job.attempt;
    ctx.max_attempts = task.job.max_attempts;
    ctx.checkpoint = std::move(task.job.checkpoint);
    ctx.cancel_ = task.cancel;
    // Two pointers: small enough for std::function to hold without an allocation per job.
    const JobContext* job = &ctx;
    ctx.report_ = [this, job](double f, std::string m, std::optional<std::string> cp) {
      {
        std::lock_guard<std::mutex> lock(out_mu_);
        progress_.push_back({job->id, job->attempt, f, std::move(m), std::move(cp)});
      }
      Notify();
    };
    HandlerOutcome out{ctx.id, ctx.attempt, {}};
    try {
      out.result = (*task.fn)(ctx);
    } catch (const std::exception& e) {
      out.result = HandlerResult::Retry(std::string("handler threw: ") + e.what());
    } catch (...) {
      out.result = HandlerResult::Retry("handler threw a non-standard exception");
    }
    std::lock_guard<std::mutex> lock(out_mu_);
    outcomes_.push_back(std::move(out));
  }
}

Completion HandlerCompletion(HandlerOutcome o, bool interrupted, bool timed_out, Duration timeout) {
  Completion done{o.id, o.attempt, Completion::Kind::kSucceeded, std::move(o.result.output), 0};
  if (o.result.kind == HandlerResult::Kind::kSucceeded) return done;
  done.kind = o.result.kind == HandlerResult::Kind::kFail ? Completion::Kind::kFailedPermanent
                                                          : Completion::Kind::kFailed;
  if (interrupted) done.kind = Completion::Kind::kInterrupted;
  if (timed_out) done.output = "timed out after " + FormatDuration(timeout) + ": " + done.output;
  return done;
}

}  // namespace drover
