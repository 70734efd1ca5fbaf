// Spawner: starts a command job's process (Boost.Process, vfork path) in its own session and
// process group (no controlling terminal), killed when its worker dies, with a clean environment, the signal
// mask restored and the payload on stdin. The caller reaps it: nothing here installs SIGCHLD handling. Not
// thread-safe.
#ifndef DROVER_JOBS_SPAWNER_H_
#define DROVER_JOBS_SPAWNER_H_

#include <sys/types.h>

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "common/status.h"
#include "common/unique_fd.h"

namespace drover {

struct SpawnRequest {
  std::vector<std::string> argv;           // argv[0] is an absolute path; no shell
  std::map<std::string, std::string> env;  // the complete environment
  std::string stdin_data;
  int stdin_fd = -1;          // >= 0: the process's stdin instead of stdin_data (a runner's pipe)
  std::string working_dir;    // empty: "/"
  std::string user;           // run as this user (needs root); empty: unchanged
  std::string group;          // primary group; empty: the user's
  bool no_new_privs = false;  // PR_SET_NO_NEW_PRIVS before exec
  std::optional<std::int64_t> limit_nofile;
  std::optional<std::uint64_t> limit_as;
  int cgroup_procs_fd = -1;  // the job moves itself into this cgroup before exec
};

struct SpawnedProcess {
  pid_t pid = -1;      // also the process group id
  UniqueFd stdout_fd;  // non-blocking read ends
  UniqueFd stderr_fd;
  UniqueFd status_fd;  // the job writes JSON lines to fd 3 (DROVER_STATUS_FD)
};

// A request filled from the process keys that [jobs.NAME] and [runners.NAME] share (the keys
// config.cc's ReadProcess reads): the program, PATH plus its env, the directory, the user and
// group, no_new_privs (on by default with a user) and the limits.
template <typename ProcessKeys>
SpawnRequest ProcessRequest(const ProcessKeys& c) {
  SpawnRequest req;
  req.argv = c.command;
  req.env["PATH"] = "/usr/local/bin:/usr/bin:/bin";
  for (const auto& [k, v] : c.env) req.env[k] = v;
  req.working_dir = c.working_dir;
  req.user = c.user;
  req.group = c.group;
  req.no_new_privs = c.no_new_privs.value_or(!c.user.empty());
  req.limit_nofile = c.limit_nofile;
  req.limit_as = c.limit_as;
  return req;
}

// The descriptor number a job finds its status pipe on.
inline constexpr int kStatusFd = 3;

// Starts the process. Fails with the program path and reason (not found, not executable,
// unknown user, no permission to switch user).
// The signals this process ignores at its first Spawn are the ones reset to default for every
// job: a caller does not change its signal dispositions after that.
Result<SpawnedProcess> Spawn(const SpawnRequest& req);

}  // namespace drover

#endif  // DROVER_JOBS_SPAWNER_H_
