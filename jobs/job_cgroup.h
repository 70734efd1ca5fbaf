// Job cgroups: where the system delegates a cgroup v2 subtree to droverd (a root droverd, or a
// unit with Delegate=yes), each worker runs in a cgroup of its own with the jobs it starts, so
// that every process they start — in another process group or session too — is killed when the
// worker dies, by the worker when droverd dies first (jobs/job_fence.h), or, after a kill -9 of
// the whole node, at droverd's next start (cgroup.kill). A job type with
// cgroup limits runs each attempt in a cgroup of its own, killed with the attempt. Elsewhere jobs
// are contained by their process group and droverd's orphan sweep only. Not thread-safe.
#ifndef DROVER_JOBS_JOB_CGROUP_H_
#define DROVER_JOBS_JOB_CGROUP_H_

#include <sys/types.h>

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "common/status.h"
#include "common/unique_fd.h"

namespace drover {

// Where this droverd's job cgroups go: "<this process's cgroup>/drover-<tag>-", a path prefix on
// the cgroup v2 hierarchy (at /sys/fs/cgroup or /sys/fs/cgroup/unified) that each job cgroup's
// name completes; `tag` names the database, so instances on other databases never touch each
// other's jobs, and no directory of droverd's own is left behind when it is killed. Empty when
// there is no cgroup v2 hierarchy or this process may not create cgroups in its own.
std::string JobCgroupRoot(const std::string& database);

// The name of a job attempt's cgroup, started by worker process `worker`.
std::string JobCgroupName(pid_t worker, std::int64_t job_id, int attempt);
// The name of the cgroup a worker (or the spare that becomes one) runs in with all its jobs.
std::string ProcessCgroupName(pid_t pid);

// Moves this process into `root` + ProcessCgroupName(getpid()), creating it: its jobs start there
// too, at no cost per job. Moving a process costs milliseconds (the kernel waits for an RCU grace
// period), which is why jobs do not each get a cgroup of their own unless they set limits.
// Fails naming the path.
Status JoinProcessCgroup(const std::string& root);

// Kills every process in worker `worker`'s cgroup and in the job cgroups it started (every such
// cgroup under `root` when `worker` is 0: those of an earlier droverd on the same database) and
// removes those cgroups. Returns the number of cgroups that still held processes.
int KillJobCgroups(const std::string& root, pid_t worker = 0);

// Makes the pids and memory controllers (those `root`'s cgroup has) available to job cgroups:
// enables them in droverd's cgroup's subtree_control, first moving droverd into a leaf cgroup of
// its own (`root` + "supervisor") when its cgroup holds processes. Call before forking. Returns
// the controllers enabled ("pids", "memory"), or none.
std::vector<std::string> EnableJobCgroupControllers(const std::string& root);

// Removes cgroups whose processes were killed but had not gone yet when their run ended.
// Returns how many are still waiting.
size_t RemoveDrainedJobCgroups();

// One job attempt's cgroup. Destroying it kills what is left in it and removes it (later, if its
// processes are still exiting).
class JobCgroup {
 public:
  JobCgroup() = default;
  struct Limits {
    std::optional<std::int64_t> max_processes;  // pids.max
    std::optional<std::uint64_t> max_memory;    // memory.max
  };
  // Creates the cgroup `root` + `name` with `limits`. A limit whose controller is not enabled
  // there is not applied: its key is added to `*not_applied`. Fails naming the path.
  static Result<JobCgroup> Create(const std::string& root, const std::string& name, const Limits& limits = {},
                                  std::vector<std::string>* not_applied = nullptr);
  ~JobCgroup();
  JobCgroup(JobCgroup&& other) noexcept;
  JobCgroup& operator=(JobCgroup&& other) noexcept;
  JobCgroup(const JobCgroup&) = delete;
  JobCgroup& operator=(const JobCgroup&) = delete;

  bool valid() const { return !path_.empty(); }
  const std::string& path() const { return path_; }
  // cgroup.procs, open for writing: a starting job writes "0" to it to move itself in.
  int procs_fd() const { return procs_.get(); }
  // SIGKILL to every process in the cgroup (cgroup.kill). False when that failed.
  bool Kill();

 private:
  void Release();
  std::string path_;
  UniqueFd procs_;
};

}  // namespace drover

#endif  // DROVER_JOBS_JOB_CGROUP_H_
