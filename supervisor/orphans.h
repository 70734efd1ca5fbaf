// Orphans: processes reparented to droverd (a child subreaper) that are not its own children —
// job processes whose worker died, and what they started. They are killed before the dead
// worker's jobs are re-queued, so no job runs twice at the same time. Not thread-safe; call
// only from the process that reaps its children.
#ifndef DROVER_SUPERVISOR_ORPHANS_H_
#define DROVER_SUPERVISOR_ORPHANS_H_

#include <sys/types.h>

#include <cstdint>
#include <functional>
#include <vector>

namespace drover {

// The parent pid of `pid`, from /proc/PID/stat; -1 when the process is gone.
pid_t ParentOf(pid_t pid);

// The children of this process (from /proc/self/task/PID/children, else a scan of /proc).
std::vector<pid_t> OwnChildren();

struct OrphanKill {
  size_t killed = 0;  // orphans SIGKILLed and reaped
  size_t left = 0;    // SIGKILLed orphans and groups still there when the wait ended
};

// SIGKILLs each child of this process for which `is_orphan` holds, and its process group when it
// leads a group other than this process's own; reaps them and waits up to `wait_us` for them and
// their groups to be gone (reaping members that are reparented here meanwhile).
OrphanKill KillOrphans(const std::function<bool(pid_t)>& is_orphan, std::int64_t wait_us = 200'000);

}  // namespace drover

#endif  // DROVER_SUPERVISOR_ORPHANS_H_
