// The in-process handler API: a C++ program registers handlers by job type and runs the
// same supervisor (RunDroverd). Handlers run on a worker's handler threads: a handler must be
// thread-safe if it shares state with other handlers or jobs.
#ifndef DROVER_JOBS_HANDLER_H_
#define DROVER_JOBS_HANDLER_H_

#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>

namespace drover {

// What a handler sees of its job. Valid for the duration of the call.
class JobContext {
 public:
  std::int64_t id = 0;
  std::string type;
  std::string queue;
  std::string payload;  // JSON text
  int attempt = 1;
  int max_attempts = 1;
  std::optional<std::string> checkpoint;  // the last checkpoint an earlier attempt stored

  // Reports progress (0..1) with an optional message and checkpoint JSON, stored in the job
  // row (throttled) so a later attempt resumes from the checkpoint. Thread-safe.
  void Progress(double fraction, std::string message = {}, std::optional<std::string> checkpoint_json = {}) {
    if (report_) report_(fraction, std::move(message), std::move(checkpoint_json));
  }
  // True once the job was cancelled, timed out, or the worker is shutting down: return soon.
  bool cancelled() const { return cancel_ && cancel_->load(std::memory_order_relaxed); }

  // Wiring done by the worker.
  std::function<void(double, std::string, std::optional<std::string>)> report_;
  const std::atomic<bool>* cancel_ = nullptr;
};

struct HandlerResult {
  enum class Kind { kSucceeded, kRetry, kFail };
  Kind kind = Kind::kSucceeded;
  std::string output;  // result JSON on success, error message otherwise

  static HandlerResult Ok(std::string result = "null") { return {Kind::kSucceeded, std::move(result)}; }
  // A failed attempt, retried with the job type's backoff while attempts remain.
  static HandlerResult Retry(std::string error) { return {Kind::kRetry, std::move(error)}; }
  // A permanent failure: no further attempts.
  static HandlerResult Fail(std::string error) { return {Kind::kFail, std::move(error)}; }
};

// A handler may also throw: the exception's what() becomes a retryable failed attempt.
using Handler = std::function<HandlerResult(JobContext&)>;

class HandlerRegistry {
 public:
  // Registers `fn` for job type `name`, replacing an earlier registration.
  void Register(const std::string& name, Handler fn) { handlers_[name] = std::move(fn); }
  // The handler for `name`, or nullptr.
  const Handler* Find(const std::string& name) const {
    auto it = handlers_.find(name);
    return it == handlers_.end() ? nullptr : &it->second;
  }
  const std::map<std::string, Handler>& all() const { return handlers_; }

 private:
  std::map<std::string, Handler> handlers_;
};

}  // namespace drover

#endif  // DROVER_JOBS_HANDLER_H_
