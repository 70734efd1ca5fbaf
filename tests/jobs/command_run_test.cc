#include "jobs/command_run.h"

#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <fstream>
#include <thread>

#include "common/time_util.h"

namespace drover {
namespace {

int Exited(int code) { return code << 8; }  // a wait status as waitpid reports it
int Signalled(int sig) { return sig; }

TEST(ClassifyExitTest, Table) {
  const std::vector<int> permanent = {64, 65};
  struct Case {
    const char* name;
    ExitFacts facts;
    std::string err;
    Completion::Kind kind;
    std::string output;
  } cases[] = {
      {"exit 0", {Exited(0)}, "", Completion::Kind::kSucceeded, "out"},
      {"exit 0 with stderr", {Exited(0)}, "noise", Completion::Kind::kSucceeded, "out"},
      {"exit 1", {Exited(1)}, "", Completion::Kind::kFailed, "exit code 1"},
      {"exit 1 with stderr", {Exited(1)}, "boom", Completion::Kind::kFailed, "exit code 1: boom"},
      {"permanent exit code",
       {Exited(64), false, false, false, Duration(0), &permanent},
       "",
       Completion::Kind::kFailedPermanent,
       "exit code 64"},
      {"other code with a permanent list",
       {Exited(3), false, false, false, Duration(0), &permanent},
       "",
       Completion::Kind::kFailed,
       "exit code 3"},
      {"killed", {Signalled(SIGKILL)}, "", Completion::Kind::kFailed, "killed by signal 9 (SIGKILL)"},
      {"timed out",
       {Signalled(SIGTERM), true, false, false, Duration(30'000)},
       "late",
       Completion::Kind::kFailed,
       "timed out after 30s: late"},
      {"timed out but exited 0",
       {Exited(0), true, false, false, Duration(500)},
       "",
       Completion::Kind::kFailed,
       "timed out after 500ms"},
      {"cancelled", {Signalled(SIGTERM), false, true}, "x", Completion::Kind::kFailed, "cancelled"},
      {"interrupted",
       {Signalled(SIGTERM), true, true, true},
       "",
       Completion::Kind::kInterrupted,
       "interrupted by shutdown"},
  };
  for (const Case& c : cases) {
    ExitOutcome o = ClassifyExit(c.facts, {"out", false, "", c.err}, 1024);
    EXPECT_EQ(o.kind, c.kind) << c.name;
    EXPECT_EQ(o.output, c.output) << c.name;
  }
  EXPECT_EQ(ClassifyExit({Exited(0)}, {"abc", true, "abc", ""}, 3).output, "abc\n[output truncated at 3B]");
}

// A failure keeps what the job said on both streams, stderr first, and never more than max_output.
TEST(ClassifyExitTest, FailuresCarryBothTailsWithinMaxOutput) {
  EXPECT_EQ(ClassifyExit({Exited(2)}, {"partial", false, "partial", "boom"}, 1024).output,
            "exit code 2: boom\n[stdout] partial");
  EXPECT_EQ(ClassifyExit({Exited(2)}, {"partial", false, "partial", ""}, 1024).output,
            "exit code 2\n[stdout] partial");
  const std::string big(5000, 'e'), out(5000, 'o');
  for (std::uint64_t max : {64u, 100u, 1000u, 4096u}) {
    std::string text = ClassifyExit({Exited(2)}, {out, true, out, big}, max).output;
    EXPECT_LE(text.size(), max) << max;
    EXPECT_EQ(text.rfind("exit code 2: […]eee", 0), 0u) << text;
    EXPECT_NE(text.find("\n[stdout] […]ooo"), std::string::npos) << text;
  }
  // A short stdout leaves the rest to stderr.
  std::string text = ClassifyExit({Exited(2)}, {"ok", false, "ok", big}, 200).output;
  EXPECT_EQ(text.size(), 200u);
  EXPECT_NE(text.find("\n[stdout] ok"), std::string::npos) << text;
  // Cut at a character boundary, not inside one.
  std::string accents;
  for (int i = 0; i < 100; ++i) accents += "é";
  text = ClassifyExit({Exited(2)}, {"", false, "", accents}, 60).output;
  EXPECT_LE(text.size(), 60u);
  EXPECT_EQ(text.substr(text.size() - 2), "é");
  EXPECT_NE(text.find("[…]é"), std::string::npos) << text;
}

SpawnRequest Sh(const std::string& script) {
  SpawnRequest r;
  r.argv = {"/bin/sh", "-c", script};
  r.env["PATH"] = "/usr/bin:/bin";
  return r;
}

TEST(CommandRunTest, OutputStatusLinesAndExit) {
  Result<std::unique_ptr<CommandRun>> run = CommandRun::Start(
      Sh("echo hello; echo oops >&2; printf '{\"progress\":0.5}\\n{\"progress\":1}' >&3"), 1024);
  ASSERT_TRUE(run.ok()) << run.status().ToString();
  CommandRun& r = **run;
  int st = 0;
  ASSERT_EQ(waitpid(r.pid(), &st, 0), r.pid());
  std::vector<std::string> lines;
  r.Reaped(st, &lines);
  CommandOutput o = r.TakeOutput();
  EXPECT_EQ(o.out, "hello\n");
  EXPECT_EQ(o.err_tail, "oops\n");
  EXPECT_EQ(lines, (std::vector<std::string>{"{\"progress\":0.5}", "{\"progress\":1}"}));
  EXPECT_TRUE(WIFEXITED(r.wait_status()));
}

TEST(CommandRunTest, StdoutIsBoundedAndStderrKeepsItsTail) {
  Result<std::unique_ptr<CommandRun>> run =
      CommandRun::Start(Sh("printf 0123456789; printf abcdefghij >&2"), 4);
  ASSERT_TRUE(run.ok());
  int st = 0;
  waitpid((*run)->pid(), &st, 0);
  std::vector<std::string> lines;
  (*run)->Reaped(st, &lines);
  CommandOutput o = (*run)->TakeOutput();
  EXPECT_EQ(o.out, "0123");
  EXPECT_TRUE(o.out_truncated);
  EXPECT_EQ(o.out_tail, "[…]6789");
  EXPECT_EQ(o.err_tail, "[…]ghij");
}

TEST(CommandRunTest, StopSendsTermThenKillAfterTheGrace) {
  Result<std::unique_ptr<CommandRun>> run = CommandRun::Start(Sh("trap '' TERM; sleep 30 & wait"), 1024);
  ASSERT_TRUE(run.ok());
  CommandRun& r = **run;
  std::this_thread::sleep_for(std::chrono::milliseconds(100));  // let the trap be set
  std::int64_t now = MonotonicUs();
  EXPECT_TRUE(r.Stop(now, 50'000));
  EXPECT_FALSE(r.Stop(now, 50'000));  // one stop at a time
  EXPECT_EQ(r.kill_at_us(), now + 50'000);
  r.OnTimer(now + 10'000);  // not yet
  EXPECT_EQ(waitpid(r.pid(), nullptr, WNOHANG), 0);
  r.OnTimer(now + 50'000);
  int st = 0;
  ASSERT_EQ(waitpid(r.pid(), &st, 0), r.pid());
  EXPECT_TRUE(WIFSIGNALED(st));
  EXPECT_EQ(WTERMSIG(st), SIGKILL);
  EXPECT_EQ(r.kill_at_us(), 0);
  std::vector<std::string> lines;
  r.Reaped(st, &lines);
}

TEST(CommandRunTest, DestroyingAnUnreapedRunKillsItsWholeGroup) {
  Result<std::unique_ptr<CommandRun>> run = CommandRun::Start(Sh("sleep 30 & echo $! >&3; wait"), 1024);
  ASSERT_TRUE(run.ok());
  pid_t leader = (*run)->pid();
  std::vector<std::string> lines;
  std::int64_t until = MonotonicUs() + 5'000'000;
  while (lines.empty() && MonotonicUs() < until) {
    (void)(*run)->Read(CommandRun::Stream::kStatus, &lines);
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  ASSERT_EQ(lines.size(), 1u);
  pid_t child = static_cast<pid_t>(std::stol(lines[0]));
  run->reset();
  int st = 0;
  ASSERT_EQ(waitpid(leader, &st, 0), leader);
  EXPECT_EQ(WTERMSIG(st), SIGKILL);
  // The grandchild is not ours to reap; it is gone or a zombie waiting for init.
  bool dead = false;
  for (int i = 0; i < 200 && !dead; ++i) {
    std::ifstream stat("/proc/" + std::to_string(child) + "/stat");
    std::string text;
    std::getline(stat, text);
    dead = text.empty() || text.find(") Z") != std::string::npos;
    if (!dead) std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  EXPECT_TRUE(dead) << "pid " << child << " survived";
}

}  // namespace
}  // namespace drover
