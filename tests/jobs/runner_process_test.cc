#include "jobs/runner_process.h"

#include <gtest/gtest.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>

#include "jobs/runner_protocol.h"

namespace drover {
namespace {

RunnerConfig Runner(std::vector<std::string> argv) {
  RunnerConfig c;
  c.name = "t";
  c.command = std::move(argv);
  return c;
}

// Reads stdout until `n` lines came (or end of file, or 5 s).
RunnerProcess::ReadEnd ReadUntil(RunnerProcess& p, std::vector<std::string>* lines, size_t n) {
  RunnerProcess::ReadEnd end = RunnerProcess::ReadEnd::kOpen;
  while (lines->size() < n && end == RunnerProcess::ReadEnd::kOpen) {
    pollfd pfd{p.out_fd(), POLLIN, 0};
    if (poll(&pfd, 1, 5000) <= 0) break;
    end = p.ReadLines(lines);
  }
  return end;
}

int Wait(pid_t pid) {
  int st = 0;
  waitpid(pid, &st, 0);
  return st;
}

TEST(RunnerProcessTest, LinesGoInAndComeBackWithTheEnvironment) {
  Result<std::unique_ptr<RunnerProcess>> r =
      RunnerProcess::Start(Runner({"/bin/sh", "-c", "echo \"$DROVER_RUNNER $GREETING\"; exec cat"}),
                           {{"DROVER_RUNNER", "t"}, {"GREETING", "hi"}});
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  RunnerProcess& p = **r;
  std::string big(200'000, 'x');  // more than a pipe holds: written over several flushes
  p.Queue("one\n");
  p.Queue(big + "\n");
  std::vector<std::string> lines;
  while (p.write_pending()) {
    ASSERT_TRUE(p.Flush());
    p.ReadLines(&lines);
  }
  p.CloseInput();  // cat sees end of file
  EXPECT_EQ(ReadUntil(p, &lines, 3), RunnerProcess::ReadEnd::kOpen);
  ASSERT_EQ(lines.size(), 3u);
  EXPECT_EQ(lines[0], "t hi");
  EXPECT_EQ(lines[1], "one");
  EXPECT_EQ(lines[2], big);
  EXPECT_EQ(ReadUntil(p, &lines, 4), RunnerProcess::ReadEnd::kEof);
  int st = Wait(p.pid());
  p.Reaped();
  EXPECT_TRUE(WIFEXITED(st) && WEXITSTATUS(st) == 0);
}

TEST(RunnerProcessTest, ALineWithoutEndIsCutOff) {
  Result<std::unique_ptr<RunnerProcess>> r = RunnerProcess::Start(
      Runner({"/bin/sh", "-c", "head -c 20000000 /dev/zero | tr '\\0' x; sleep 60"}), {});
  ASSERT_TRUE(r.ok());
  std::vector<std::string> lines;
  EXPECT_EQ(ReadUntil(**r, &lines, 1), RunnerProcess::ReadEnd::kLineTooLong);
  EXPECT_TRUE(lines.empty());
  std::unique_ptr<RunnerProcess> p = std::move(r).value();
  pid_t pid = p->pid();
  p.reset();  // killed with its group
  int st = Wait(pid);
  EXPECT_TRUE(WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL);
}

TEST(RunnerProcessTest, StderrLinesForTheLog) {
  Result<std::unique_ptr<RunnerProcess>> r =
      RunnerProcess::Start(Runner({"/bin/sh", "-c", "echo first >&2; printf 'no newline' >&2"}), {});
  ASSERT_TRUE(r.ok());
  std::vector<std::string> lines;
  while (true) {
    pollfd pfd{(*r)->err_fd(), POLLIN, 0};
    ASSERT_EQ(poll(&pfd, 1, 5000), 1);
    if (!(*r)->ReadLog(&lines)) break;
  }
  EXPECT_EQ(lines, (std::vector<std::string>{"first", "no newline"}));
  Wait((*r)->pid());
  (*r)->Reaped();
}

// A forking runner's job processes share its group: they die with it, even after it exited.
TEST(RunnerProcessTest, ReapedKillsWhatIsLeftInTheGroup) {
  Result<std::unique_ptr<RunnerProcess>> r =
      RunnerProcess::Start(Runner({"/bin/sh", "-c", "sleep 60 & echo $!; exit 0"}), {});
  ASSERT_TRUE(r.ok());
  std::vector<std::string> lines;
  ReadUntil(**r, &lines, 1);
  ASSERT_EQ(lines.size(), 1u);
  pid_t job = std::stoi(lines[0]);
  Wait((*r)->pid());
  EXPECT_EQ(kill(job, 0), 0);
  (*r)->Reaped();
  for (int i = 0; i < 500 && kill(job, 0) == 0; ++i) usleep(10'000);  // our orphan: init reaps it
  std::string stat;
  FILE* f = fopen(("/proc/" + std::to_string(job) + "/stat").c_str(), "r");
  if (f) {
    char buf[512] = {};
    fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    stat = buf;
  }
  // Gone, or a zombie waiting for whoever reaps orphans here.
  EXPECT_TRUE(stat.empty() || stat.find(") Z") != std::string::npos) << stat;
}

TEST(RunnerProcessTest, AProgramThatCannotStartSaysWhich) {
  Result<std::unique_ptr<RunnerProcess>> r = RunnerProcess::Start(Runner({"/nonexistent/runner"}), {});
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("/nonexistent/runner"), std::string::npos) << r.status().ToString();
}

}  // namespace
}  // namespace drover
