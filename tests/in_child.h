// InChild: runs a test body in a forked child, for checks that change process-wide state (fds,
// signal masks, subreaper status) the test runner must keep. Not thread-safe.
#ifndef DROVER_TESTS_IN_CHILD_H_
#define DROVER_TESTS_IN_CHILD_H_

#include <sys/wait.h>
#include <unistd.h>

namespace drover {

// Runs `body` in a forked child; its exit status (0 = every check in it held; 100: it died).
template <typename F>
int InChild(F body) {
  pid_t pid = fork();
  if (pid == 0) _exit(body());
  int st = 0;
  waitpid(pid, &st, 0);
  return WIFEXITED(st) ? WEXITSTATUS(st) : 100;
}

}  // namespace drover

#endif  // DROVER_TESTS_IN_CHILD_H_
