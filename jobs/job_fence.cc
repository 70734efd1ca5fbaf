#include "jobs/job_fence.h"

#include <fcntl.h>
#include <signal.h>
#include <string.h>
#include <sys/prctl.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>

namespace drover {
namespace {

// A slot is free (0), being written (-1) or holds a group (> 0). Its cgroup path is written while
// the slot is -1, so the handler, which only reads slots > 0, never sees half a path. Allocated
// once, before the handler is installed, and never freed.
constexpr size_t kPathMax = 256;
std::atomic<pid_t>* g_pgids = nullptr;
char (*g_cgroup_kills)[kPathMax] = nullptr;  // "<cgroup>/cgroup.kill", or empty
size_t g_slots = 0;
int g_own_cgroup_kill = -1;  // open for good: a descriptor that is never closed is never reused

// The signal droverd's death sends: a real-time one, blocked by no thread and used for nothing
// else (the worker takes SIGTERM, SIGCHLD, SIGHUP and SIGINT through its signalfd).
int DeathSignal() { return SIGRTMIN + 2; }

void WriteOne(int fd) {
  if (fd >= 0) (void)!write(fd, "1", 1);
}

char g_self_fence_why[256] = "";
size_t g_self_fence_why_len = 0;
timer_t g_timer{};
bool g_timer_made = false;

void OnFence(int, siginfo_t* info, void*) {
  if (info->si_code == SI_TIMER) (void)!write(STDERR_FILENO, g_self_fence_why, g_self_fence_why_len);
  KillFencedJobsAndDie();
}

}  // namespace

void KillFencedJobsAndDie() {
  for (size_t i = 0; i < g_slots; ++i) {
    pid_t pg = g_pgids[i].load(std::memory_order_acquire);
    if (pg <= 0) continue;
    kill(-pg, SIGKILL);
    if (g_cgroup_kills[i][0] != '\0') {
      int fd = open(g_cgroup_kills[i], O_WRONLY | O_CLOEXEC);
      WriteOne(fd);
      if (fd >= 0) close(fd);
    }
  }
  WriteOne(g_own_cgroup_kill);  // this process is in it too
  kill(getpid(), SIGKILL);
  _exit(137);
}

Status ArmJobFence(pid_t parent, const std::string& own_cgroup, size_t capacity) {
  if (g_slots == 0) {
    g_pgids = new std::atomic<pid_t>[capacity]();
    g_cgroup_kills = new char[capacity][kPathMax]();
    g_slots = capacity;
  }
  if (!own_cgroup.empty() && g_own_cgroup_kill < 0)
    g_own_cgroup_kill = open((own_cgroup + "/cgroup.kill").c_str(), O_WRONLY | O_CLOEXEC);
  struct sigaction sa {};
  sa.sa_sigaction = OnFence;
  sa.sa_flags = SA_SIGINFO;
  sigfillset(&sa.sa_mask);  // nothing else runs on this thread meanwhile
  if (sigaction(DeathSignal(), &sa, nullptr) != 0) return Status::FromErrno("sigaction (job fence)");
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, DeathSignal());
  if (sigprocmask(SIG_UNBLOCK, &set, nullptr) != 0) return Status::FromErrno("sigprocmask (job fence)");
  if (prctl(PR_SET_PDEATHSIG, DeathSignal()) != 0) return Status::FromErrno("prctl(PR_SET_PDEATHSIG)");
  if (getppid() != parent) KillFencedJobsAndDie();  // droverd died before the fence stood
  return Status::Ok();
}

Status PrepareSelfFence(const std::string& why) {
  if (g_slots == 0) return Status::Internal("the job fence is not armed");
  if (g_timer_made) return Status::Ok();
  g_self_fence_why_len = std::min(why.size(), sizeof g_self_fence_why);
  memcpy(g_self_fence_why, why.data(), g_self_fence_why_len);  // before any timer can fire
  sigevent ev{};
  ev.sigev_notify = SIGEV_SIGNAL;
  ev.sigev_signo = DeathSignal();
  if (timer_create(CLOCK_MONOTONIC, &ev, &g_timer) != 0)
    return Status::FromErrno("timer_create (self-fence)");
  g_timer_made = true;
  return Status::Ok();
}

void SetSelfFence(std::int64_t deadline_us) {
  if (!g_timer_made) return;
  const std::int64_t at = std::max<std::int64_t>(deadline_us, 1);
  itimerspec when{};
  when.it_value.tv_sec = at / 1'000'000;
  when.it_value.tv_nsec = at % 1'000'000 * 1000;
  timer_settime(g_timer, TIMER_ABSTIME, &when, nullptr);
}

void ClearSelfFence() {
  if (!g_timer_made) return;
  itimerspec off{};
  timer_settime(g_timer, 0, &off, nullptr);
}

bool FenceJob(pid_t pgid, const std::string& cgroup) {
  std::string kill_path = cgroup.empty() ? "" : cgroup + "/cgroup.kill";
  for (size_t i = 0; i < g_slots; ++i) {
    pid_t expected = 0;
    if (!g_pgids[i].compare_exchange_strong(expected, -1, std::memory_order_acquire)) continue;
    if (kill_path.size() < kPathMax) {
      memcpy(g_cgroup_kills[i], kill_path.c_str(), kill_path.size() + 1);
    } else {
      g_cgroup_kills[i][0] = '\0';  // too long a path: the group and the worker's cgroup still go
    }
    g_pgids[i].store(pgid, std::memory_order_release);
    return true;
  }
  return false;
}

void UnfenceJob(pid_t pgid) {
  for (size_t i = 0; i < g_slots; ++i) {
    pid_t expected = pgid;
    if (g_pgids[i].compare_exchange_strong(expected, 0, std::memory_order_acq_rel)) return;
  }
}

}  // namespace drover
