#include "supervisor/process_init.h"

#include <dirent.h>
#include <fcntl.h>
#include <malloc.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstddef>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

namespace drover {
namespace {

char* title_area = nullptr;
size_t title_len = 0;

// A child that cannot set itself up says why on stderr (droverd's log) and exits at once, before
// it could report anything on a descriptor that is not the one droverd reads.
[[noreturn]] void Die(const std::string& why) {
  std::string line = "drover child " + std::to_string(getpid()) + ": " + why + ": " + strerror(errno) + "\n";
  (void)!write(STDERR_FILENO, line.data(), line.size());
  _exit(70);
}

}  // namespace

void InitProcessTitle(int argc, char** argv) {
  if (argc < 1) return;
  // The argv strings are contiguous; their total length is what can be overwritten.
  char* end = argv[0] + strlen(argv[0]);
  for (int i = 1; i < argc; ++i) {
    if (argv[i] != end + 1) break;
    end = argv[i] + strlen(argv[i]);
  }
  title_area = argv[0];
  title_len = static_cast<size_t>(end - argv[0]);
}

void SetProcessTitle(const std::string& title) {
  prctl(PR_SET_NAME, title.substr(0, 15).c_str());
  if (title_area == nullptr) return;
  size_t n = std::min(title.size(), title_len);
  memcpy(title_area, title.data(), n);
  memset(title_area + n, 0, title_len - n + 1);
}

void ResetChildAfterFork(std::span<int> keep, pid_t parent) {
  const int first = 3;
  // Out of the way first, above the places they move to, so that moving one fd into place cannot
  // overwrite another (as low as that: the open-file limit may be low).
  int high = first + static_cast<int>(keep.size());
  for (int& fd : keep) {
    fd = fcntl(fd, F_DUPFD, high);
    if (fd < 0) Die("cannot move a descriptor above " + std::to_string(high));
  }
  int next = first;
  for (int& fd : keep) {
    if (dup2(fd, next) != next)
      Die("cannot set descriptor " + std::to_string(next));  // the high copy is closed below
    fcntl(next, F_SETFD, FD_CLOEXEC);                        // a job or a handler's child must not inherit it
    fd = next++;
  }
  if (syscall(SYS_close_range, next, ~0U, 0) != 0) {
    for (int fd = next; fd < 65536; ++fd) close(fd);
  }
  for (int sig = 1; sig < NSIG; ++sig) {
    if (sig != SIGKILL && sig != SIGSTOP) signal(sig, SIG_DFL);
  }
  sigset_t none;
  sigemptyset(&none);
  sigprocmask(SIG_SETMASK, &none, nullptr);
  // SIGKILL, not SIGTERM: jobs must not keep running unsupervised, or the next supervisor
  // would recover and start them a second time.
  prctl(PR_SET_PDEATHSIG, SIGKILL);
  if (getppid() != parent) _exit(1);
  // A job runs as the same user: without this it could open /proc/PPID/fd/3 and write reports
  // in its worker's name. Jobs themselves are dumpable again after their exec.
  prctl(PR_SET_DUMPABLE, 0);
  // Short waits (busy handler, commit re-checks) should not be stretched by the default 50 µs slack.
  prctl(PR_SET_TIMERSLACK, 1);
}

void KeepFreedMemory() {
  mallopt(M_TRIM_THRESHOLD, 32 << 20);
  mallopt(M_MMAP_THRESHOLD, 4 << 20);
}

size_t PrefaultWritableMemory(size_t max_bytes) {
  FILE* maps = fopen("/proc/self/maps", "re");
  if (maps == nullptr) return 0;
  size_t total = 0;
  char line[512];
  while (fgets(line, sizeof line, maps) != nullptr) {
    unsigned long start = 0, end = 0;
    char perms[5] = {};
    if (sscanf(line, "%lx-%lx %4s", &start, &end, perms) != 3 || strcmp(perms, "rw-p") != 0) continue;
    size_t len = end - start;
    if (len > max_bytes) continue;
    if (madvise(reinterpret_cast<void*>(start), len, MADV_POPULATE_WRITE) == 0) total += len;
  }
  fclose(maps);
  return total;
}

bool NotifySystemd(const std::string& state) {
  const char* path = getenv("NOTIFY_SOCKET");
  if (path == nullptr || path[0] == '\0') return false;
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  size_t len = strlen(path);
  if (len >= sizeof addr.sun_path) return false;
  memcpy(addr.sun_path, path, len);
  if (addr.sun_path[0] == '@') addr.sun_path[0] = '\0';
  int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return false;
  ssize_t n = sendto(fd, state.data(), state.size(), MSG_NOSIGNAL, reinterpret_cast<sockaddr*>(&addr),
                     static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + len));
  close(fd);
  return n == static_cast<ssize_t>(state.size());
}

}  // namespace drover
