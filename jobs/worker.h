// The worker process's main loop: claims jobs from its pool's queues and runs up to
// `concurrency` of them at once (command jobs as process groups, in-process handlers on
// threads), all watched from one epoll loop. Runs in a freshly forked child; owns its own
// store connection. Not thread-safe.
#ifndef DROVER_JOBS_WORKER_H_
#define DROVER_JOBS_WORKER_H_

#include <string>

#include "common/config.h"
#include "jobs/event_gate.h"
#include "jobs/handler.h"
#include "jobs/store/job_store.h"

namespace drover {

struct WorkerOptions {
  std::string name;  // "worker:default:0"
  const Config* config = nullptr;
  const PoolConfig* pool = nullptr;
  const HandlerRegistry* handlers = nullptr;
  int supervisor_fd = -1;     // heartbeat/report pipe to the supervisor; -1 for none
  JobStore* store = nullptr;  // this process's database connection (owned by the caller)
  // Where per-attempt job cgroups go (JobCgroupRoot, computed by the supervisor before it forks:
  // the worker itself runs in a cgroup below); empty: none.
  std::string job_cgroup_root;
  // Open while someone follows the event stream: job events go to supervisor_fd then. Null: never.
  const EventGate* events = nullptr;
  // droverd: its death (kill -9 too) kills this worker's job processes with it (jobs/job_fence.h).
  // 0: no fence (a worker without droverd, in tests).
  pid_t supervisor_pid = 0;
};

// Runs until SIGTERM/SIGINT (graceful: running jobs get shutdown_timeout, then their groups
// are killed and the jobs re-queued without spending an attempt) or until the worker is
// recycled. Returns the process exit code: 0 after a clean stop, 1 on a fatal error (logged).
// Fault point for tests: with DROVER_TEST_STOP_AFTER_SPAWN=FILE in its environment, the worker
// that manages to delete FILE stops itself (SIGSTOP) right after starting a command job and
// before reporting its process group to the supervisor, so a test can kill it exactly there.
int RunWorker(const WorkerOptions& options);

}  // namespace drover

#endif  // DROVER_JOBS_WORKER_H_
