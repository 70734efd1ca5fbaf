// Job fence: a worker's job processes die with it, also when droverd dies first (kill -9 included)
// and nothing is left to sweep them up. Another node takes a dead node's jobs after node_timeout,
// and droverd's next start re-queues them at once: a job process left running would then be a
// second copy. The kernel signals the worker when droverd dies (PR_SET_PDEATHSIG); the worker
// then SIGKILLs its own cgroup (where it has one: every process its jobs started, in any group or
// session), every job's process group and job cgroup, and itself. Async-signal-safe; one fence
// per process; the functions below are called from the worker's thread.
#ifndef DROVER_JOBS_JOB_FENCE_H_
#define DROVER_JOBS_JOB_FENCE_H_

#include <sys/types.h>

#include <string>

#include "common/status.h"

namespace drover {

// Arms the fence in this worker, for up to `capacity` jobs at once: from now on the death of
// `parent` (droverd) kills every fenced job, `own_cgroup` (a cgroup directory, or empty) and this
// process, within milliseconds. Kills at once when `parent` is already gone. Fails when the
// signal handler cannot be installed; call once.
Status ArmJobFence(pid_t parent, const std::string& own_cgroup, size_t capacity);

// Fences a job's process group `pgid` and, when not empty, its cgroup directory `cgroup`; false
// when the fence is not armed or holds `capacity` jobs already (then only droverd, and the
// worker's cgroup where there is one, stand between the job and a second copy). Unfence once the
// group's leader has been reaped.
bool FenceJob(pid_t pgid, const std::string& cgroup = "");
void UnfenceJob(pid_t pgid);

// The self-fence: where no renewal of the jobs' leases has been confirmed for a while (a database
// cut off or hung), the jobs must stop before the leases run out and another node or the reaper
// takes them. Makes the timer (CLOCK_MONOTONIC) and keeps `why`, what it writes to stderr when
// it fires; fails when the fence is not armed or the timer cannot be made. Call once.
Status PrepareSelfFence(const std::string& why);
// At `deadline_us` the timer does what droverd's death does, even while this thread waits in a
// database call; a later call moves the deadline, ClearSelfFence stops it. One syscall each.
void SetSelfFence(std::int64_t deadline_us);
void ClearSelfFence();

// SIGKILLs everything the fence holds, then this process: what droverd's death sets off.
[[noreturn]] void KillFencedJobsAndDie();

}  // namespace drover

#endif  // DROVER_JOBS_JOB_FENCE_H_
