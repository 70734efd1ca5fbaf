#include "supervisor/credential_checker.h"

#include <sys/eventfd.h>
#include <unistd.h>

namespace drover {
namespace {

// Past this many entries, expired ones are dropped from the maps (which an attacker fills).
constexpr size_t kPruneAbove = 4096;

template <typename Map, typename Expired>
void Prune(Map* m, Expired expired) {
  if (m->size() <= kPruneAbove) return;
  for (auto it = m->begin(); it != m->end();) it = expired(it->second) ? m->erase(it) : std::next(it);
}

}  // namespace

Result<std::unique_ptr<CredentialChecker>> CredentialChecker::Create() {
  std::unique_ptr<CredentialChecker> c(new CredentialChecker());
  c->event_fd_.Reset(eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
  if (!c->event_fd_) return Status::FromErrno("eventfd");
  c->thread_ = std::thread([p = c.get()] { p->Loop(); });
  // Its start (thread-local storage, the allocator's per-thread state) ends before any fork.
  std::unique_lock<std::mutex> lock(c->mu_);
  c->cv_.wait(lock, [&] { return c->idle_; });
  return c;
}

CredentialChecker::~CredentialChecker() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stop_ = true;
  }
  cv_.notify_one();
  if (thread_.joinable()) thread_.join();
}

void CredentialChecker::SetAuth(const HttpAuth& auth) {
  auth_ = std::make_shared<const HttpAuth>(auth);
  good_until_.clear();
}

CredentialChecker::Verdict CredentialChecker::Check(const std::string& authorization,
                                                    const std::string& address, std::uint64_t ticket,
                                                    std::int64_t now_us) {
  if (auto f = failures_.find(address);
      f != failures_.end() && f->second.count >= kMaxFailures && now_us < f->second.window_end_us) {
    return Verdict::kRefused;
  }
  if (!auth_->hashed()) {
    if (auth_->Check(authorization)) return Verdict::kGood;
    Failed(address, now_us);
    return Verdict::kBad;
  }
  if (auto g = good_until_.find(authorization); g != good_until_.end() && now_us < g->second)
    return Verdict::kGood;
  {
    std::lock_guard<std::mutex> lock(mu_);
    queue_.push_back({ticket, authorization, address, auth_});
  }
  cv_.notify_one();
  return Verdict::kPending;
}

std::vector<CredentialChecker::Outcome> CredentialChecker::Done(std::int64_t now_us) {
  std::uint64_t n;
  (void)!read(event_fd_.get(), &n, sizeof n);
  std::vector<Finished> finished;
  {
    std::lock_guard<std::mutex> lock(mu_);
    finished.swap(done_);
  }
  std::vector<Outcome> out;
  for (Finished& f : finished) {
    // A check made with credentials replaced since then counts for nothing remembered.
    if (f.task.auth == auth_) {
      if (f.good) {
        Prune(&good_until_, [&](std::int64_t until) { return until <= now_us; });
        good_until_[f.task.authorization] = now_us + kRememberGoodUs;
      } else {
        Failed(f.task.address, now_us);
      }
    }
    out.push_back({f.task.ticket, f.good});
  }
  return out;
}

void CredentialChecker::Failed(const std::string& address, std::int64_t now_us) {
  Prune(&failures_, [&](const Failures& f) { return f.window_end_us <= now_us; });
  Failures& f = failures_[address];
  if (now_us >= f.window_end_us) f = {0, now_us + kFailureWindowUs};
  ++f.count;
}

void CredentialChecker::Loop() {
  std::unique_lock<std::mutex> busy(busy_);
  while (true) {
    Task task;
    {
      std::unique_lock<std::mutex> lock(mu_);
      busy.unlock();  // idle from here until woken: forks may go ahead
      if (!idle_) {
        idle_ = true;
        cv_.notify_all();  // Create() waits for this
      }
      cv_.wait(lock, [&] { return stop_ || !queue_.empty(); });
      lock.unlock();
      busy.lock();  // before anything allocates (a fork under way finishes first)
      lock.lock();
      if (stop_) return;
      task = std::move(queue_.front());
      queue_.pop_front();
    }
    bool good = task.auth->Check(task.authorization);
    {
      std::lock_guard<std::mutex> lock(mu_);
      done_.push_back({std::move(task), good});
    }
    std::uint64_t one = 1;
    (void)!write(event_fd_.get(), &one, sizeof one);
  }
}

}  // namespace drover
