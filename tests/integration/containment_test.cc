// Jobs are contained: no controlling terminal, nothing left running after their end, and only
// root, the daemon's user and socket_group members reach the control socket.
#include <grp.h>
#include <gtest/gtest.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>

#include <algorithm>
#include <sstream>

#include "jobs/job_cgroup.h"
#include "tests/integration/ctl.h"
#include "tests/integration/daemon.h"

namespace drover::testing {
namespace {

// The group the socket_group tests use, when this test runs as root and it exists; else null.
group* UsersGroup() { return geteuid() == 0 ? getgrnam("users") : nullptr; }

// Opens up to `n` connections to the control socket at `path` and sends nothing; the connected ones.
std::vector<UniqueFd> Flood(const std::string& path, int n) {
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  snprintf(addr.sun_path, sizeof addr.sun_path, "%s", path.c_str());
  std::vector<UniqueFd> out;
  for (int i = 0; i < n; ++i) {
    UniqueFd fd(socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
    if (!fd) break;
    if (connect(fd.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0) out.push_back(std::move(fd));
  }
  return out;
}

std::string ReadText(const std::string& path) {
  std::ifstream in(path);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

// A job is the leader of a session of its own: it has no controlling terminal to open, so it
// cannot push input into the terminal droverd was started from (TIOCSTI).
TEST(ContainmentTest, AJobLeadsASessionOfItsOwn) {
  Daemon d(R"(
[pools.default]
workers = 1
[jobs.whoami]
command = ["/bin/sh", "-c", "read -r line < /proc/$$/stat; echo $$ $line"]
)");
  ASSERT_TRUE(d.Start()) << d.Log();
  auto store = d.Store();
  std::int64_t id = Enqueue(store.get(), "whoami");
  ASSERT_TRUE(Finished(store.get(), id)) << d.Log();
  Job j = *store->Get(id);
  ASSERT_EQ(j.state, JobState::kSucceeded) << j.last_error.value_or("");
  // "$$ PID (sh) STATE PPID PGRP SESSION ..."
  std::istringstream in(*j.result);
  std::string self, pid, comm, state, ppid, pgrp, session;
  in >> self >> pid >> comm >> state >> ppid >> pgrp >> session;
  EXPECT_EQ(pgrp, self) << *j.result;
  EXPECT_EQ(session, self) << *j.result;
}

// `setsid cmd &` inside a job leaves the job's process group; when the job ends (here by its
// timeout) that process comes to droverd, which kills it.
TEST(ContainmentTest, AProcessThatLeftTheJobsGroupDoesNotOutliveTheJob) {
  Daemon d(R"(
[pools.default]
workers = 1
[jobs.escape]
command = ["/bin/sh", "-c", "setsid sleep 3001 & echo $! > \"$PIDFILE\"; sleep 60"]
timeout = "500ms"
kill_after = "200ms"
max_attempts = 1
)");
  std::string pidfile = d.dir() + "/escaped.pid";
  std::ofstream(d.config(), std::ios::app) << "env = { PIDFILE = \"" << pidfile << "\" }\n";
  ASSERT_TRUE(d.Start()) << d.Log();
  auto store = d.Store();
  std::int64_t id = Enqueue(store.get(), "escape", "{}", 1);
  ASSERT_TRUE(Finished(store.get(), id)) << d.Log();
  EXPECT_EQ(store->Get(id)->last_error, "timed out after 500ms");
  pid_t escaped = 0;
  std::ifstream(pidfile) >> escaped;
  ASSERT_GT(escaped, 0);
  EXPECT_TRUE(WaitFor([&] { return !Alive(escaped); }, 3000)) << "pid " << escaped << " survived the job";
  EXPECT_EQ(WEXITSTATUS(d.Stop()), 0);
}

// kill -9 of droverd alone: every process its jobs started dies within 1 s, with no droverd to
// sweep them (the job fence in each worker, jobs/job_fence.h): its group's grandchildren, and,
// where droverd may create cgroups, what left for a session of its own.
TEST(ContainmentTest, WhatAJobStartedDiesWithinASecondOfAKillNineOfDroverd) {
  Daemon d(R"(
[pools.default]
workers = 1
concurrency = 2
[jobs.escape]
command = ["/bin/sh", "-c", "setsid sleep 3001 & echo $! >> \"$PIDFILE\"; (sleep 3002 & echo $! >> \"$PIDFILE\"; wait) & sleep 60"]
)",
           "shutdown_timeout = \"500ms\"\n");
  const bool cgroups = !JobCgroupRoot(d.InstanceKey()).empty();
  std::string pidfile = d.dir() + "/escaped.pid";
  std::ofstream(d.config(), std::ios::app) << "env = { PIDFILE = \"" << pidfile << "\" }\n";
  ASSERT_TRUE(d.Start()) << d.Log();
  auto store = d.Store();
  std::vector<std::int64_t> ids{Enqueue(store.get(), "escape"), Enqueue(store.get(), "escape")};
  std::vector<pid_t> pids;
  ASSERT_TRUE(WaitFor(
      [&] {
        pids.clear();
        std::ifstream in(pidfile);
        for (pid_t p; in >> p;) pids.push_back(p);
        return pids.size() == 4 && store->Get(ids[0])->pid && store->Get(ids[1])->pid;
      },
      5000))
      << d.Log();
  std::vector<pid_t> watched{static_cast<pid_t>(*store->Get(ids[0])->pid),
                             static_cast<pid_t>(*store->Get(ids[1])->pid)};
  for (pid_t p : pids) {
    // Without cgroups, only the job's process group is fenced: a new session escapes it.
    if (cgroups || getsid(p) != p) watched.push_back(p);
  }
  ASSERT_GE(watched.size(), 4u);
  for (pid_t p : watched) ASSERT_TRUE(Alive(p)) << p;
  std::int64_t killed_us = MonotonicUs();
  d.Kill();
  auto all_gone = [&] {
    return std::none_of(watched.begin(), watched.end(), [](pid_t p) { return Alive(p); });
  };
  ASSERT_TRUE(WaitFor(all_gone, 5000)) << "a job process outlived droverd";
  const std::int64_t gone_us = MonotonicUs() - killed_us;
  RecordProperty("gone_us", std::to_string(gone_us));
  EXPECT_LT(gone_us, 1'000'000);
  // The next start finds nothing left to kill, and runs the jobs again.
  ASSERT_TRUE(d.Start()) << d.Log();
  EXPECT_EQ(d.Log().find("killed what"), std::string::npos) << d.Log();
  EXPECT_EQ(WEXITSTATUS(d.Stop()), 0);
}

// A change of credentials clears PDEATHSIG; it is asked for again after the switch, so a
// `user =` job does not outlive its worker when droverd is killed.
TEST(ContainmentTest, AJobWithAnotherUserDiesWithItsWorker) {
  if (geteuid() != 0) GTEST_SKIP() << "needs root for user =";
  Daemon d(
      "[pools.default]\nworkers = 1\n[jobs.long]\ncommand = [\"/bin/sleep\", \"30\"]\nuser = \"nobody\"\n");
  ASSERT_TRUE(d.Start()) << d.Log();
  auto store = d.Store();
  std::int64_t id = Enqueue(store.get(), "long");
  ASSERT_TRUE(WaitFor([&] { return store->Get(id)->pid.has_value(); }, 5000)) << d.Log();
  pid_t job = static_cast<pid_t>(*store->Get(id)->pid);
  ASSERT_TRUE(Alive(job));
  d.Kill();
  EXPECT_TRUE(WaitFor([&] { return !Alive(job); }, 2000)) << "job " << job << " outlived its worker";
}

TEST(ContainmentTest, NoNewPrivsIsOnForJobsWithAUserAndOnRequest) {
  Daemon d(
      "[pools.default]\nworkers = 1\n"
      "[jobs.plain]\ncommand = [\"/bin/grep\", \"NoNewPrivs\", \"/proc/self/status\"]\n"
      "[jobs.strict]\ncommand = [\"/bin/grep\", \"NoNewPrivs\", \"/proc/self/status\"]\nno_new_privs = "
      "true\n");
  ASSERT_TRUE(d.Start()) << d.Log();
  auto store = d.Store();
  std::int64_t plain = Enqueue(store.get(), "plain"), strict = Enqueue(store.get(), "strict");
  ASSERT_TRUE(Finished(store.get(), plain) && Finished(store.get(), strict)) << d.Log();
  EXPECT_EQ(store->Get(plain)->result, "NoNewPrivs:\t0\n");
  EXPECT_EQ(store->Get(strict)->result, "NoNewPrivs:\t1\n");
  EXPECT_EQ(WEXITSTATUS(d.Stop()), 0);
}

// max_processes is applied where the pids controller is delegated, and said not to be elsewhere.
TEST(ContainmentTest, CgroupLimitsApplyOrAreSaidNotTo) {
  Daemon d(
      "[pools.default]\nworkers = 1\n[jobs.count]\n"
      "command = [\"/bin/sh\", \"-c\", \"cat /sys/fs/cgroup$(cut -d: -f3 /proc/self/cgroup | tail "
      "-1)/pids.max "
      "2>/dev/null || echo none\"]\nmax_processes = 5\n");
  ASSERT_TRUE(d.Start()) << d.Log();
  auto store = d.Store();
  std::int64_t a = Enqueue(store.get(), "count"), b = Enqueue(store.get(), "count");
  ASSERT_TRUE(Finished(store.get(), a) && Finished(store.get(), b)) << d.Log();
  EXPECT_EQ(store->Get(a)->state, JobState::kSucceeded);
  std::string log = d.Log();
  if (log.find("job cgroup controllers enabled: pids") != std::string::npos) {
    EXPECT_EQ(store->Get(a)->result, "5\n");
  } else {
    size_t first = log.find("max_processes");
    ASSERT_NE(first, std::string::npos) << log;
    EXPECT_NE(log.find("not applied", first), std::string::npos) << log;
    EXPECT_EQ(log.find("max_processes not applied", log.find("max_processes not applied") + 1),
              std::string::npos)
        << "said once per job type\n"
        << log;
  }
  EXPECT_EQ(WEXITSTATUS(d.Stop()), 0);
}

// A member of socket_group through a supplementary group may use droverctl; a user outside it
// gets a refusal and is disconnected.
TEST(ContainmentTest, SocketGroupMembersMayControlTheDaemon) {
  group* users = UsersGroup();
  if (users == nullptr) GTEST_SKIP() << "needs root (to act as another user) and a group \"users\"";
  Daemon d("[pools.default]\nworkers = 1\n", "socket_group = \"users\"\n");
  ASSERT_TRUE(d.Start()) << d.Log();
  chmod(d.dir().c_str(), 0755);
  chmod(d.config().c_str(), 0644);
  std::string member = "setpriv --reuid=65534 --regid=65534 --groups=" + std::to_string(users->gr_gid) + " ";
  ShellResult r = Ctl(d, "status", "", member);
  EXPECT_EQ(r.code, 0) << r.out;
  EXPECT_NE(r.out.find("worker:default:0"), std::string::npos) << r.out;
  // With the file mode opened up, the daemon's own check is what refuses a non-member.
  chmod(d.socket().c_str(), 0666);
  ShellResult outsider = Ctl(d, "status", "", "setpriv --reuid=65534 --regid=65534 --clear-groups ");
  EXPECT_NE(outsider.code, 0) << outsider.out;
  EXPECT_NE(outsider.out.find("permission denied: uid 65534"), std::string::npos) << outsider.out;
  EXPECT_TRUE(d.AllRunning());
  EXPECT_EQ(WEXITSTATUS(d.Stop()), 0);
}

// Payloads may hold secrets: the database and its -wal and -shm files are the daemon's alone,
// whatever the umask droverd was started with (the test runs under 022).
TEST(ContainmentTest, TheDatabaseIsCreatedReadableByTheDaemonOnly) {
  mode_t old = umask(022);
  Daemon d("[pools.default]\nworkers = 1\n[jobs.x]\ncommand = [\"/bin/true\"]\n");
  bool started = d.Start();
  umask(old);
  ASSERT_TRUE(started) << d.Log();
  auto store = d.Store();
  ASSERT_GT(Enqueue(store.get(), "x"), 0);
  for (const char* suffix : {"", "-wal", "-shm", ".lock"}) {
    struct stat st;
    ASSERT_EQ(stat((d.db() + suffix).c_str(), &st), 0) << suffix;
    EXPECT_EQ(st.st_mode & 0777, 0600u) << "drover.db" << suffix;
  }
  EXPECT_EQ(WEXITSTATUS(d.Stop()), 0);
}

TEST(ContainmentTest, CheckConfigWarnsAboutPathsInWorldWritableDirectories) {
  Daemon d("[pools.default]\nworkers = 1\n");
  std::string text = ReadText(d.config());
  text.replace(text.find("socket = \"drover.sock\""), 22, "socket = \"/tmp/drover-check.sock\"");
  d.RewriteConfig(text);
  ShellResult r = RunShell(std::string(DROVERD_PATH) + " --check-config -c " + d.config() + " 2>&1");
  EXPECT_EQ(r.code, 0) << r.out;
  EXPECT_NE(
      r.out.find(
          "warning: [supervisor] socket /tmp/drover-check.sock is in /tmp, which every user may write to"),
      std::string::npos)
      << r.out;
  EXPECT_EQ(r.out.find("log_file"), std::string::npos) << r.out;  // in the test's own directory
}

// A link planted where the log, pidfile or lock should be must not make droverd write through it.
TEST(ContainmentTest, LinksAtTheLogPidfileAndLockPathsAreNotFollowed) {
  for (const char* planted : {"drover.log", "drover.pid", "drover.db.lock"}) {
    Daemon d("[pools.default]\nworkers = 1\n", "pidfile = \"drover.pid\"\n");
    std::string victim = d.dir() + "/victim";
    std::ofstream(victim) << "precious";
    ASSERT_EQ(symlink(victim.c_str(), (d.dir() + "/" + planted).c_str()), 0);
    ShellResult r = RunShell("timeout 10 " + std::string(DROVERD_PATH) + " -c " + d.config() + " 2>&1");
    EXPECT_EQ(r.code, 1) << planted << ": " << r.out;
    EXPECT_EQ(ReadText(victim), "precious") << planted;
  }
}

// The socket is created with its final mode: there is no window for a chmod by path.
TEST(ContainmentTest, TheSocketIsBorn0660WhateverTheUmask) {
  mode_t old = umask(0);
  Daemon d("[pools.default]\nworkers = 1\n");
  bool started = d.Start();
  umask(old);
  ASSERT_TRUE(started) << d.Log();
  struct stat st;
  ASSERT_EQ(lstat(d.socket().c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0660u);
  EXPECT_EQ(WEXITSTATUS(d.Stop()), 0);
}

// The socket's enqueue (enqueue_group's door) takes what droverctl and the config take: values
// out of range are refused with the reason, never wrapped or overflowed into another value.
TEST(ContainmentTest, TheSocketsEnqueueRefusesValuesOutOfRange) {
  Daemon d("[pools.default]\nworkers = 1\n[jobs.echo]\ncommand = [\"/bin/cat\"]\n");
  ASSERT_TRUE(d.Start()) << d.Log();
  for (const char* option :
       {"priority=2147483647", "priority=4294967301", "priority=-1000001", "max_attempts=0",
        "max_attempts=4294967297", "delay_ms=9223372036854775807", "delay_ms=99999999999999999999",
        "delay_ms=-5", "expires_at_ms=253402300800000"}) {
    nlohmann::json r = d.Request("enqueue", {"echo", "{}", option});
    EXPECT_EQ(r["ok"], false) << option << ": " << r.dump();
  }
  nlohmann::json r = d.Request("enqueue", {"echo", "{}", "priority=2147483647"});
  EXPECT_NE(r["error"].get<std::string>().find("priority must be from -1000000 to 1000000"),
            std::string::npos)
      << r.dump();
  EXPECT_TRUE(d.Store()->List({})->empty());
  r = d.Request("enqueue", {"echo", "{}", "priority=1000000", "max_attempts=1000000", "delay_ms=60000"});
  EXPECT_EQ(r["ok"], true) << r.dump();
  EXPECT_EQ(WEXITSTATUS(d.Stop()), 0);
}

// An application that may enqueue and do nothing else: no access to the database, and only the
// socket's enqueue verb.
TEST(ContainmentTest, EnqueueGroupMembersMayOnlyEnqueue) {
  group* users = UsersGroup();
  if (users == nullptr) GTEST_SKIP() << "needs root (to act as another user) and a group \"users\"";
  Daemon d("[pools.default]\nworkers = 1\n[jobs.echo]\ncommand = [\"/bin/cat\"]\n",
           "enqueue_group = \"users\"\n");
  ASSERT_TRUE(d.Start()) << d.Log();
  chmod(d.dir().c_str(), 0755);
  chmod(d.config().c_str(), 0644);
  std::string app = "setpriv --reuid=65534 --regid=65534 --groups=" + std::to_string(users->gr_gid) + " ";
  ShellResult r = Ctl(d, "enqueue echo '{\"a\": 1}' --via-socket --priority 3", "", app);
  ASSERT_EQ(r.code, 0) << r.out;
  std::int64_t id = std::stoll(r.out);
  auto store = d.Store();
  ASSERT_TRUE(Finished(store.get(), id)) << d.Log();
  Job j = *store->Get(id);
  EXPECT_EQ(j.result, "{\"a\": 1}");
  EXPECT_EQ(j.priority, 3);
  r = Ctl(d, "status", "", app);
  EXPECT_NE(r.code, 0);
  EXPECT_NE(r.out.find("members of enqueue_group may only enqueue"), std::string::npos) << r.out;
  r = Ctl(d, "enqueue echo '{}'", "", app);  // straight into the database: not for this user
  EXPECT_NE(r.code, 0) << r.out;
  r = Ctl(d, "enqueue echo '{}' --via-socket", "", "setpriv --reuid=65534 --regid=65534 --clear-groups ");
  EXPECT_NE(r.code, 0);
  EXPECT_NE(r.out.find("permission denied: uid 65534"), std::string::npos) << r.out;
  EXPECT_EQ(WEXITSTATUS(d.Stop()), 0);
}

// A member of socket_group who opens hundreds of connections and sends nothing holds at most a
// few of droverd's descriptors and cannot lock root out.
TEST(ContainmentTest, AConnectionFloodLocksNobodyOut) {
  group* users = UsersGroup();
  if (users == nullptr) GTEST_SKIP() << "needs root (to act as another user) and a group \"users\"";
  Daemon d("[pools.default]\nworkers = 1\n", "socket_group = \"users\"\n");
  ASSERT_TRUE(d.Start()) << d.Log();
  int ready[2];
  ASSERT_EQ(pipe(ready), 0);
  pid_t flooder = fork();
  if (flooder == 0) {
    gid_t g = users->gr_gid;
    if (setgroups(1, &g) != 0 || setgid(65534) != 0 || setuid(65534) != 0) _exit(1);
    std::vector<UniqueFd> held = Flood(d.socket(), 500);
    (void)!write(ready[1], "x", 1);
    pause();
    _exit(0);
  }
  char x;
  ASSERT_EQ(read(ready[0], &x, 1), 1);
  close(ready[0]);
  close(ready[1]);
  std::int64_t t0 = MonotonicUs();
  ShellResult r = Ctl(d, "status");
  EXPECT_EQ(r.code, 0) << r.out;
  EXPECT_LT(MonotonicUs() - t0, 2'000'000);
  size_t fds = 0;
  for ([[maybe_unused]] const auto& e :
       std::filesystem::directory_iterator("/proc/" + std::to_string(d.pid()) + "/fd")) {
    ++fds;
  }
  EXPECT_LT(fds, 60u);
  kill(flooder, SIGKILL);
  waitpid(flooder, nullptr, 0);
  EXPECT_EQ(WEXITSTATUS(d.Stop()), 0);
}

// Out of descriptors (a low limit and a flood of clients), droverd still restarts a killed worker
// and re-queues its job: descriptors are held in reserve for that.
TEST(ContainmentTest, AKilledWorkerIsReplacedEvenWhenDroverdIsOutOfDescriptors) {
  Daemon d("[pools.default]\nworkers = 1\n[jobs.sleepy]\ncommand = [\"/bin/sleep\", \"30\"]\n",
           "spare = false\nrestart_delay = \"0s\"\nshutdown_timeout = \"500ms\"\n");
  ASSERT_TRUE(d.Start()) << d.Log();
  auto store = d.Store();
  std::int64_t id = Enqueue(store.get(), "sleepy");
  ASSERT_TRUE(WaitFor([&] { return store->Get(id)->pid.has_value(); }, 5000)) << d.Log();
  ASSERT_EQ(RunShell("prlimit --pid " + std::to_string(d.pid()) + " --nofile=48:48").code, 0);
  std::vector<UniqueFd> flood = Flood(d.socket(), 80);
  std::this_thread::sleep_for(std::chrono::milliseconds(300));  // droverd accepts until EMFILE
  pid_t worker = d.PidOf("worker:default:0");  // this request may wait in the backlog: no matter
  if (worker <= 0)
    worker =
        static_cast<pid_t>(std::stoll(store->Get(id)->worker->substr(store->Get(id)->worker->find('@') + 1)));
  ASSERT_EQ(kill(worker, SIGKILL), 0);
  EXPECT_TRUE(WaitFor(
      [&] { return store->Get(id)->attempts == 2 && store->Get(id)->state == JobState::kRunning; }, 5000))
      << d.Log();
  EXPECT_EQ(d.Log().find("Too many open files"), std::string::npos) << d.Log();
  flood.clear();
  EXPECT_EQ(WEXITSTATUS(d.Stop()), 0);
}

// Jobs run as the daemon's user under the packaged unit, so the socket's mode lets them in: the
// daemon itself refuses requests that come from a job's session.
TEST(ContainmentTest, AJobCannotControlTheDaemon) {
  Daemon d(
      "[pools.default]\nworkers = 1\n[jobs.rogue]\ncommand = [\"/bin/sh\", \"-c\", \"$CTL -c $CONFIG "
      "shutdown\"]\n"
      "max_attempts = 1\n");
  std::ofstream(d.config(), std::ios::app)
      << "env = { CTL = \"" << DROVERCTL_PATH << "\", CONFIG = \"" << d.config() << "\" }\n";
  ASSERT_TRUE(d.Start()) << d.Log();
  auto store = d.Store();
  std::int64_t id = Enqueue(store.get(), "rogue", "{}", 1);
  ASSERT_TRUE(Finished(store.get(), id)) << d.Log();
  Job j = *store->Get(id);
  EXPECT_EQ(j.state, JobState::kFailed);
  EXPECT_NE(j.last_error.value_or("").find("a job may not control droverd"), std::string::npos)
      << j.last_error.value_or("");
  EXPECT_TRUE(d.AllRunning());
  EXPECT_EQ(WEXITSTATUS(d.Stop()), 0);
}

// ... also before droverd has heard of the job's process group: here its worker stops itself right
// after the start (DROVER_TEST_STOP_AFTER_SPAWN), so the report never comes while the job asks.
TEST(ContainmentTest, AJobCannotControlTheDaemonBeforeItsWorkerReportedIt) {
  Daemon d(
      "[pools.default]\nworkers = 1\n[jobs.rogue]\ncommand = [\"/bin/sh\", \"-c\", \"$CTL -c $CONFIG "
      "shutdown > $OUT 2>&1; c=$?; echo $c >> $OUT; exit $c\"]\nmax_attempts = 1\n");
  const std::string out = d.dir() + "/rogue.out";
  std::ofstream(d.config(), std::ios::app) << "env = { CTL = \"" << DROVERCTL_PATH << "\", CONFIG = \""
                                           << d.config() << "\", OUT = \"" << out << "\" }\n";
  ASSERT_TRUE(d.StartStoppingAfterSpawn()) << d.Log();
  pid_t worker = d.PidOf("worker:default:0");
  auto store = d.Store();
  std::int64_t id = Enqueue(store.get(), "rogue", "{}", 1);
  // droverctl's answer, then its exit code: two lines at least.
  auto lines = [&] {
    std::string t = ReadText(out);
    return std::count(t.begin(), t.end(), '\n');
  };
  ASSERT_TRUE(WaitFor([&] { return lines() >= 2; }, 10'000)) << ReadText(out) << d.Log();
  EXPECT_NE(ReadText(out).find("a job may not control droverd"), std::string::npos) << ReadText(out);
  EXPECT_TRUE(Alive(d.pid()));
  EXPECT_EQ(d.Log().find("shutting down"), std::string::npos) << d.Log();
  kill(worker, SIGCONT);
  ASSERT_TRUE(Finished(store.get(), id)) << d.Log();
  EXPECT_EQ(store->Get(id)->state, JobState::kFailed);
  EXPECT_EQ(WEXITSTATUS(d.Stop()), 0);
}

// Job types, errors and output come from enqueuers and jobs: control characters in them must not
// forge log lines or reach the operator's terminal raw.
TEST(ContainmentTest, ControlCharactersAreEscapedInTheLogAndInDroverctl) {
  Daemon d(
      "[pools.default]\nworkers = 1\n[jobs.noisy]\n"
      "command = [\"/bin/sh\", \"-c\", \"i=0; while [ $i -lt 500 ]; do echo bad >&3; i=$((i+1)); done; "
      "printf '\\\\033[31mred' >&2; exit 1\"]\nmax_attempts = 1\n");
  ASSERT_TRUE(d.Start()) << d.Log();
  auto store = d.Store();
  std::int64_t forged =
      Enqueue(store.get(), "x\n2026-01-01T00:00:00.000+00:00 info  [supervisor 1] forged", "{}", 1);
  std::int64_t noisy = Enqueue(store.get(), "noisy", "{}", 1);
  ASSERT_TRUE(Finished(store.get(), forged)) << d.Log();
  ASSERT_TRUE(Finished(store.get(), noisy)) << d.Log();
  EXPECT_NE(store->Get(noisy)->last_error.value_or("").find("\x1b[31mred"), std::string::npos);
  std::string log = d.Log();
  EXPECT_EQ(log.find("\n2026-01-01T00:00:00.000+00:00 info  [supervisor 1] forged"), std::string::npos)
      << log;
  EXPECT_NE(log.find("x\\n2026-01-01"), std::string::npos) << log;
  size_t warnings = 0;
  for (size_t at = 0; (at = log.find("ignoring status line", at)) != std::string::npos; ++at) ++warnings;
  EXPECT_EQ(warnings, 10u);
  ShellResult shown = Ctl(d, "show " + std::to_string(noisy));
  EXPECT_EQ(shown.out.find('\x1b'), std::string::npos) << shown.out;
  EXPECT_NE(shown.out.find("\\x1b[31mred"), std::string::npos) << shown.out;
  ShellResult listed = Ctl(d, "jobs");
  EXPECT_EQ(listed.out.find("\n2026-01-01"), std::string::npos) << listed.out;
  EXPECT_EQ(WEXITSTATUS(d.Stop()), 0);
}

}  // namespace
}  // namespace drover::testing
