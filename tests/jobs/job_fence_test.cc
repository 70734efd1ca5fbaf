// The job fence in a real process tree: a stand-in for droverd forks a worker, the worker forks a
// job (a process group of its own) whose child stays behind; kill -9 of the stand-in must take the
// worker, the job and the job's child with it.
#include "jobs/job_fence.h"

#include <gtest/gtest.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <set>

#include "common/time_util.h"

namespace drover {
namespace {

// The pids this process reaps (it is their subreaper) until all of `pids` are gone, or `ms` pass.
bool ReapAll(std::set<pid_t> pids, int ms) {
  const std::int64_t until = MonotonicUs() + ms * 1000LL;
  while (!pids.empty() && MonotonicUs() < until) {
    pid_t p = waitpid(-1, nullptr, WNOHANG);
    if (p > 0) {
      pids.erase(p);
    } else {
      usleep(1000);
    }
  }
  return pids.empty();
}

TEST(JobFenceTest, DroverdsDeathKillsTheWorkerItsJobsAndWhatTheyStarted) {
  ASSERT_EQ(prctl(PR_SET_CHILD_SUBREAPER, 1), 0);
  int fds[2];
  ASSERT_EQ(pipe(fds), 0);
  pid_t droverd = fork();
  ASSERT_GE(droverd, 0);
  if (droverd == 0) {
    pid_t worker = fork();
    if (worker == 0) {
      if (!ArmJobFence(getppid(), "", 4).ok()) _exit(2);
      pid_t job = fork();
      if (job == 0) {
        setpgid(0, 0);
        if (fork() == 0) {  // the job's child: PDEATHSIG would not reach it
          pid_t me = getpid();
          (void)!write(fds[1], &me, sizeof me);
          pause();
          _exit(0);
        }
        pause();
        _exit(0);
      }
      setpgid(job, job);
      if (!FenceJob(job)) _exit(3);
      pid_t ids[] = {getpid(), job};
      (void)!write(fds[1], ids, sizeof ids);
      while (true) pause();
    }
    while (true) pause();
  }
  close(fds[1]);
  pid_t got[3];
  size_t have = 0;
  while (have < sizeof got) {
    ssize_t n = read(fds[0], reinterpret_cast<char*>(got) + have, sizeof got - have);
    ASSERT_GT(n, 0);
    have += static_cast<size_t>(n);
  }
  close(fds[0]);
  ASSERT_EQ(kill(droverd, SIGKILL), 0);
  ASSERT_EQ(waitpid(droverd, nullptr, 0), droverd);
  const bool gone = ReapAll({got[0], got[1], got[2]}, 1000);
  EXPECT_TRUE(gone) << "a process outlived the fence";
  if (!gone) {
    for (pid_t p : got) kill(p, SIGKILL);
    ReapAll({got[0], got[1], got[2]}, 1000);
  }
  prctl(PR_SET_CHILD_SUBREAPER, 0);
}

// The self-fence's timer: cleared, nothing happens; due, the worker and its job die with it.
TEST(JobFenceTest, TheSelfFenceKillsTheJobsWhenItsDeadlinePassesUnlessCleared) {
  ASSERT_EQ(prctl(PR_SET_CHILD_SUBREAPER, 1), 0);
  for (bool cleared : {true, false}) {
    SCOPED_TRACE(cleared ? "cleared" : "due");
    int fds[2];
    ASSERT_EQ(pipe(fds), 0);
    pid_t worker = fork();
    ASSERT_GE(worker, 0);
    if (worker == 0) {
      if (!ArmJobFence(getppid(), "", 4).ok() || !PrepareSelfFence("self-fence\n").ok()) _exit(2);
      pid_t job = fork();
      if (job == 0) {
        setpgid(0, 0);
        pause();
        _exit(0);
      }
      setpgid(job, job);
      if (!FenceJob(job)) _exit(3);
      (void)!write(fds[1], &job, sizeof job);
      SetSelfFence(MonotonicUs() + 100'000);
      if (cleared) ClearSelfFence();
      usleep(600'000);
      kill(job, SIGKILL);
      _exit(0);  // the fence did not fire
    }
    close(fds[1]);
    pid_t job = 0;
    ASSERT_EQ(read(fds[0], &job, sizeof job), static_cast<ssize_t>(sizeof job));
    close(fds[0]);
    int st = 0;
    ASSERT_EQ(waitpid(worker, &st, 0), worker);
    if (cleared) {
      EXPECT_TRUE(WIFEXITED(st) && WEXITSTATUS(st) == 0) << st;
    } else {
      EXPECT_TRUE(WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL) << st;
    }
    EXPECT_TRUE(ReapAll({job}, 1000));
  }
  prctl(PR_SET_CHILD_SUBREAPER, 0);
}

TEST(JobFenceTest, HoldsUpToItsCapacityAndFreesUnfencedSlots) {
  pid_t child = fork();
  ASSERT_GE(child, 0);
  if (child == 0) {  // a process of its own: the fence is armed once per process
    int code = 0;
    if (FenceJob(100)) code |= 1;  // not armed yet
    if (!ArmJobFence(getppid(), "", 2).ok()) code |= 2;
    if (!FenceJob(100) || !FenceJob(101)) code |= 4;
    if (FenceJob(102)) code |= 8;  // full
    UnfenceJob(100);
    if (!FenceJob(102)) code |= 16;
    UnfenceJob(101);
    UnfenceJob(102);
    _exit(code);
  }
  int st = 0;
  ASSERT_EQ(waitpid(child, &st, 0), child);
  ASSERT_TRUE(WIFEXITED(st));
  EXPECT_EQ(WEXITSTATUS(st), 0);
}

}  // namespace
}  // namespace drover
