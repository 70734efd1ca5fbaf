// LaunchCommand: starts one attempt of a command job from its [jobs.NAME] settings: argv,
// environment (PATH, the type's env, DROVER_* variables), stdin (the payload or the envelope),
// user, limits, and a cgroup of its own when the type sets max_processes or max_memory.
// Not thread-safe (the warnings set).
#ifndef DROVER_JOBS_COMMAND_LAUNCH_H_
#define DROVER_JOBS_COMMAND_LAUNCH_H_

#include <memory>
#include <set>
#include <string>

#include "common/config.h"
#include "jobs/command_run.h"
#include "jobs/job.h"
#include "jobs/spawner.h"

namespace drover {

// The process request of `job`'s current attempt.
SpawnRequest CommandRequest(const JobTypeConfig& type, const ClaimedJob& job);

// Starts the attempt. `cgroup_root` is where per-attempt cgroups go (empty: none); a limit the
// cgroup cannot apply is logged once per job type (remembered in `warned`), and a cgroup that
// cannot be made leaves the job contained by its process group only. Fails as Spawn() does.
Result<std::unique_ptr<CommandRun>> LaunchCommand(const JobTypeConfig& type, const ClaimedJob& job,
                                                  const std::string& cgroup_root,
                                                  std::set<std::string>* warned);

}  // namespace drover

#endif  // DROVER_JOBS_COMMAND_LAUNCH_H_
