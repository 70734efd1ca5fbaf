// CredentialChecker: the [http] listener's credentials, checked without holding up droverd's loop.
// An htpasswd hash (bcrypt) takes a tenth of a second or more to check, so those checks run on a
// thread of the checker's own and their results come back through fd(); good credentials are
// remembered for a minute, and an address whose checks failed too often is refused for a while
// before any hash is computed. A token is compared at once. Driven by one thread (the loop's); the
// worker thread touches only its queue and its own copy of the credentials.
#ifndef DROVER_SUPERVISOR_CREDENTIAL_CHECKER_H_
#define DROVER_SUPERVISOR_CREDENTIAL_CHECKER_H_

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "common/status.h"
#include "common/unique_fd.h"
#include "supervisor/http_auth.h"

namespace drover {

// Failed checks an address may have within kFailureWindowUs before it is refused until the window
// ends; good credentials are not checked again for kRememberGoodUs.
inline constexpr int kMaxFailures = 10;
inline constexpr std::int64_t kFailureWindowUs = 60'000'000;
inline constexpr std::int64_t kRememberGoodUs = 60'000'000;

class CredentialChecker {
 public:
  static Result<std::unique_ptr<CredentialChecker>> Create();
  ~CredentialChecker();  // stops the thread, after the check under way
  CredentialChecker(const CredentialChecker&) = delete;
  CredentialChecker& operator=(const CredentialChecker&) = delete;

  // The credentials in force (at start and on reload); forgets what was remembered.
  void SetAuth(const HttpAuth& auth);
  bool configured() const { return auth_->configured(); }

  enum class Verdict { kGood, kBad, kRefused, kPending };
  // Checks `authorization` (an Authorization header's value) from `address`: kRefused when the
  // address failed too often lately, kPending when a hash is being checked (its outcome comes
  // from Done() with `ticket`), else the answer now.
  Verdict Check(const std::string& authorization, const std::string& address, std::uint64_t ticket,
                std::int64_t now_us);

  // Readable when checks have ended.
  int fd() const { return event_fd_.get(); }
  struct Outcome {
    std::uint64_t ticket = 0;
    bool good = false;
  };
  // The checks ended since the last call (their failures counted, their successes remembered).
  std::vector<Outcome> Done(std::int64_t now_us);

  // Held around every fork() of droverd (its children run on without exec): the thread then
  // waits idle for work, holding no lock of the allocator or anyone else's, so that no child
  // inherits a lock it can never take (under AddressSanitizer, a scheduler forked while the
  // thread allocated hung in its first transaction). Waits for a check under way, at most one.
  std::unique_lock<std::mutex> QuietForFork() { return std::unique_lock<std::mutex>(busy_); }

 private:
  struct Task {
    std::uint64_t ticket = 0;
    std::string authorization, address;
    std::shared_ptr<const HttpAuth> auth;
  };
  struct Finished {
    Task task;
    bool good = false;
  };
  CredentialChecker() = default;
  void Loop();
  void Failed(const std::string& address, std::int64_t now_us);

  UniqueFd event_fd_;
  std::shared_ptr<const HttpAuth> auth_ = std::make_shared<HttpAuth>();
  std::map<std::string, std::int64_t> good_until_;  // authorization -> remembered until
  struct Failures {
    int count = 0;
    std::int64_t window_end_us = 0;
  };
  std::map<std::string, Failures> failures_;  // by address

  std::mutex busy_;  // the thread's while it is not idle in cv_.wait (from its start)
  std::mutex mu_;
  std::condition_variable cv_;
  bool idle_ = false;           // guarded by mu_: the thread has reached its first wait
  std::deque<Task> queue_;      // guarded by mu_
  std::vector<Finished> done_;  // guarded by mu_
  bool stop_ = false;           // guarded by mu_
  std::thread thread_;
};

}  // namespace drover

#endif  // DROVER_SUPERVISOR_CREDENTIAL_CHECKER_H_
