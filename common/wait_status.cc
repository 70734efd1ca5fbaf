#include "common/wait_status.h"

#include <string.h>
#include <sys/wait.h>

namespace drover {

std::string DescribeWaitStatus(int st) {
  if (WIFEXITED(st)) return "exit status " + std::to_string(WEXITSTATUS(st));
  if (WIFSIGNALED(st)) {
    const char* abbrev = sigabbrev_np(WTERMSIG(st));
    return "killed by signal " + std::to_string(WTERMSIG(st)) +
           (abbrev ? std::string(" (SIG") + abbrev + ")" : "");
  }
  return "status " + std::to_string(st);
}

}  // namespace drover
