// Readable: whether a descriptor becomes readable within a timeout, for tests that wait on a
// wake-up fd.
#ifndef DROVER_TESTS_READABLE_H_
#define DROVER_TESTS_READABLE_H_

#include <poll.h>

namespace drover {

inline bool Readable(int fd, int timeout_ms) {
  pollfd p{fd, POLLIN, 0};
  return poll(&p, 1, timeout_ms) == 1;
}

}  // namespace drover

#endif  // DROVER_TESTS_READABLE_H_
