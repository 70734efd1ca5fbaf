#include "common/unique_fd.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>

namespace drover {

void UniqueFd::Reset(int fd) {
  if (fd_ >= 0 && fd_ != fd) ::close(fd_);
  fd_ = fd;
}

Result<Pipe> MakePipe(bool nonblock) {
  int fds[2];
  if (::pipe2(fds, O_CLOEXEC | (nonblock ? O_NONBLOCK : 0)) != 0) return Status::FromErrno("pipe2");
  return Pipe{UniqueFd(fds[0]), UniqueFd(fds[1])};
}

Status SetNonBlocking(int fd, bool on) {
  int flags = ::fcntl(fd, F_GETFL);
  if (flags < 0) return Status::FromErrno("fcntl(F_GETFL)");
  flags = on ? (flags | O_NONBLOCK) : (flags & ~O_NONBLOCK);
  if (::fcntl(fd, F_SETFL, flags) != 0) return Status::FromErrno("fcntl(F_SETFL)");
  return Status::Ok();
}

Status WriteAll(int fd, const void* data, size_t len) {
  const char* p = static_cast<const char*>(data);
  while (len > 0) {
    ssize_t n = ::write(fd, p, len);
    if (n < 0) {
      if (errno == EINTR) continue;
      return Status::FromErrno("write");
    }
    p += n;
    len -= static_cast<size_t>(n);
  }
  return Status::Ok();
}

}  // namespace drover
