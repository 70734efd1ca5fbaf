#include "jobs/handler_pool.h"

#include <sys/eventfd.h>
#include <unistd.h>

#include <exception>

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
  {
    std::lock_guard<std::mutex> lock(mu_);
    tasks_.push_back({std::move(job), fn, cancel});
  }
  cv_.notify_one();
}

void HandlerPool::Notify() {
  std::uint64_t one = 1;
  (void)!write(event_fd_.get(), &one, sizeof one);
}

void HandlerPool::Drain(std::vector<HandlerOutcome>* outcomes, std::vector<HandlerProgress>* progress) {
  std::uint64_t n;
  (void)!read(event_fd_.get(), &n, sizeof n);
  std::lock_guard<std::mutex> lock(mu_);
  for (HandlerOutcome& o : outcomes_) outcomes->push_back(std::move(o));
  for (HandlerProgress& p : progress_) progress->push_back(std::move(p));
  outcomes_.clear();
  progress_.clear();
}

void HandlerPool::Loop() {
  while (true) {
    Task task;
    {
      std::unique_lock<std::mutex> lock(mu_);
      cv_.wait(lock, [&] { return stop_ || !tasks_.empty(); });
      if (tasks_.empty()) return;
      task = std::move(tasks_.front());
      tasks_.pop_front();
    }
    JobContext ctx;
    ctx.id = task.job.id;
    ctx.type = task.job.type;
    ctx.queue = task.job.queue;
    ctx.payload = std::move(task.job.payload);
    ctx.attempt = task.job.attempt;
    ctx.max_attempts = task.job.max_attempts;
    ctx.checkpoint = task.job.checkpoint;
    ctx.cancel_ = task.cancel;
    ctx.report_ = [this, id = ctx.id, attempt = ctx.attempt](double f, std::string m,
                                                             std::optional<std::string> cp) {
      {
        std::lock_guard<std::mutex> lock(mu_);
        progress_.push_back({id, attempt, f, std::move(m), std::move(cp)});
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
    bool first;
    {
      std::lock_guard<std::mutex> lock(mu_);
      first = outcomes_.empty();
      outcomes_.push_back(std::move(out));
    }
    // One wake-up per batch: the loop drains everything that piled up meanwhile.
    if (first) Notify();
  }
}

}  // namespace drover
