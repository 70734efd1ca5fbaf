// UniqueFd: the owner of one file descriptor; closes it when destroyed.
// Not thread-safe. Movable, not copyable.
#ifndef DROVER_COMMON_UNIQUE_FD_H_
#define DROVER_COMMON_UNIQUE_FD_H_

#include <utility>

#include "common/status.h"

namespace drover {

class UniqueFd {
 public:
  UniqueFd() = default;
  explicit UniqueFd(int fd) : fd_(fd) {}
  ~UniqueFd() { Reset(); }
  UniqueFd(const UniqueFd&) = delete;
  UniqueFd& operator=(const UniqueFd&) = delete;
  UniqueFd(UniqueFd&& other) noexcept : fd_(other.Release()) {}
  UniqueFd& operator=(UniqueFd&& other) noexcept {
    if (this != &other) Reset(other.Release());
    return *this;
  }

  int get() const { return fd_; }
  bool valid() const { return fd_ >= 0; }
  explicit operator bool() const { return valid(); }
  // Gives up ownership and returns the descriptor.
  int Release() { return std::exchange(fd_, -1); }
  // Closes the owned descriptor (if any) and takes `fd`.
  void Reset(int fd = -1);

 private:
  int fd_ = -1;
};

struct Pipe {
  UniqueFd read;
  UniqueFd write;
};

// Creates a close-on-exec pipe; `nonblock` applies O_NONBLOCK to both ends.
Result<Pipe> MakePipe(bool nonblock);

// Sets or clears O_NONBLOCK on `fd`.
Status SetNonBlocking(int fd, bool on);

// Writes all of `data` (retrying on EINTR and short writes). Fails with the errno.
Status WriteAll(int fd, const void* data, size_t len);

// Runs a function when the scope ends (a clean-up with several ways out).
template <typename F>
class ScopeExit {
 public:
  explicit ScopeExit(F f) : f_(std::move(f)) {}
  ~ScopeExit() { f_(); }
  ScopeExit(const ScopeExit&) = delete;
  ScopeExit& operator=(const ScopeExit&) = delete;

 private:
  F f_;
};

}  // namespace drover

#endif  // DROVER_COMMON_UNIQUE_FD_H_
