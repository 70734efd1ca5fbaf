#include "supervisor/orphans.h"

#include <gtest/gtest.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>

#include "tests/in_child.h"

namespace drover {
namespace {

pid_t ReadPid(int fd) {
  pid_t p = 0;
  return read(fd, &p, sizeof p) == sizeof p ? p : 0;
}

TEST(OrphansTest, KillsReparentedJobsWithTheirGroupsAndSparesOwnChildren) {
  int code = InChild([] {
    if (prctl(PR_SET_CHILD_SUBREAPER, 1) != 0) return 1;
    pid_t own = fork();
    if (own == 0) {
      pause();
      _exit(0);
    }
    int job_pipe[2], grandchild_pipe[2];
    if (pipe(job_pipe) != 0 || pipe(grandchild_pipe) != 0) return 2;
    pid_t worker = fork();  // plays a worker that starts a job and dies before reporting it
    if (worker == 0) {
      pid_t job = fork();
      if (job == 0) {
        setsid();
        pid_t grandchild = fork();
        if (grandchild == 0) {
          pause();
          _exit(0);
        }
        (void)!write(grandchild_pipe[1], &grandchild, sizeof grandchild);
        pause();
        _exit(0);
      }
      (void)!write(job_pipe[1], &job, sizeof job);
      _exit(0);
    }
    waitpid(worker, nullptr, 0);
    pid_t job = ReadPid(job_pipe[0]), grandchild = ReadPid(grandchild_pipe[0]);
    if (job <= 0 || grandchild <= 0) return 3;
    std::vector<pid_t> children = OwnChildren();
    if (std::find(children.begin(), children.end(), job) == children.end()) return 4;  // reparented here
    OrphanKill k = KillOrphans([&](pid_t p) { return p != own; });
    if (k.killed != 1 || k.left != 0) return 5;
    if (kill(job, 0) == 0 || kill(grandchild, 0) == 0) return 6;  // gone, reaped
    if (kill(own, 0) != 0) return 7;                              // our own child is left alone
    kill(own, SIGKILL);
    waitpid(own, nullptr, 0);
    return 0;
  });
  EXPECT_EQ(code, 0);
}

TEST(OrphansTest, NothingToDoWithoutOrphans) {
  OrphanKill k = KillOrphans([](pid_t) { return false; });
  EXPECT_EQ(k.killed, 0u);
  EXPECT_EQ(k.left, 0u);
}

}  // namespace
}  // namespace drover
