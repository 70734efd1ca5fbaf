#include "supervisor/orphans.h"

#include <dirent.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <fstream>
#include <string>

#include "common/time_util.h"

namespace drover {
pid_t ParentOf(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
  std::string line;
  if (!std::getline(in, line)) return -1;
  size_t paren = line.rfind(')');  // the command name may hold spaces and parentheses
  if (paren == std::string::npos || paren + 4 >= line.size()) return -1;
  return static_cast<pid_t>(std::atol(line.c_str() + paren + 4));  // ") S PPID"
}

std::vector<pid_t> OwnChildren() {
  const std::string self = std::to_string(getpid());
  std::vector<pid_t> out;
  std::ifstream children("/proc/" + self + "/task/" + self + "/children");
  if (children) {
    pid_t p;
    while (children >> p) out.push_back(p);
    return out;
  }
  DIR* proc = opendir("/proc");
  if (proc == nullptr) return out;
  while (dirent* e = readdir(proc)) {
    char* end = nullptr;
    long pid = std::strtol(e->d_name, &end, 10);
    if (pid > 0 && *end == '\0' && ParentOf(static_cast<pid_t>(pid)) == getpid())
      out.push_back(static_cast<pid_t>(pid));
  }
  closedir(proc);
  return out;
}

OrphanKill KillOrphans(const std::function<bool(pid_t)>& is_orphan, std::int64_t wait_us) {
  OrphanKill result;
  std::vector<pid_t> orphans = OwnChildren();
  std::erase_if(orphans, [&](pid_t p) { return !is_orphan(p); });
  if (orphans.empty()) return result;
  std::vector<pid_t> groups;
  for (pid_t p : orphans) {
    pid_t pg = getpgid(p);
    if (pg > 1 && pg != getpgrp() && kill(-pg, SIGKILL) == 0) groups.push_back(pg);
    kill(p, SIGKILL);
  }
  // Bounded, not a blocking waitpid(): a process stuck in the kernel (D state) dies only when it
  // leaves it, and must not stall the supervisor. SIGKILLed, it runs no more code of its own.
  std::vector<pid_t> pending = orphans;
  std::int64_t until = MonotonicUs() + wait_us;
  while (true) {
    for (pid_t p : OwnChildren()) {
      if (is_orphan(p)) waitpid(p, nullptr, WNOHANG);  // members that came here meanwhile
    }
    std::erase_if(pending, [](pid_t p) {
      return waitpid(p, nullptr, WNOHANG) != 0;  // reaped now, or earlier (ECHILD)
    });
    std::erase_if(groups, [](pid_t pg) { return kill(-pg, 0) != 0; });
    if ((pending.empty() && groups.empty()) || MonotonicUs() >= until) break;
    usleep(200);
  }
  result.killed = orphans.size() - pending.size();
  result.left = pending.size() + groups.size();
  return result;
}

}  // namespace drover
