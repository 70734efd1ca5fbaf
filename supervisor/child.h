// Child: one process slot of droverd (the scheduler, a worker, or the spare): its lifecycle, its
// current process and report pipe, and what that process told droverd (jobs, process groups).
// Owned by the supervisor's event loop; not thread-safe.
#ifndef DROVER_SUPERVISOR_CHILD_H_
#define DROVER_SUPERVISOR_CHILD_H_

#include <sys/types.h>

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "common/unique_fd.h"
#include "supervisor/child_lifecycle.h"
#include "supervisor/spare.h"

namespace drover {

// A worker's runner ([runners.NAME]) as the worker last said.
struct RunnerStatus {
  std::string state;                    // starting, ready, backoff
  std::int64_t failures = 0;            // failed starts in a row
  std::int64_t next_start_wall_ms = 0;  // backoff: when it starts again
  std::string last_error;               // why the last start failed
};

struct Child {
  Child(std::string n, const LifecyclePolicy* policy, bool is_spare = false)
      : name(std::move(n)), life(policy, is_spare) {}
  std::string name;  // "scheduler", "worker:POOL:N" or "spare"
  std::string pool;  // empty for the scheduler and the spare
  int index = 0;
  ChildLifecycle life;
  pid_t pid = 0;
  UniqueFd pipe;  // reports from the child
  std::string inbuf;
  std::int64_t started_wall_ms = 0;  // the last process's start; 0: none yet
  std::int64_t stopped_wall_ms = 0;  // the last process's exit
  int exit_status = 0;               // the last process's exit code; -1: killed by a signal
  int restarts = 0;
  std::string last_exit;
  std::vector<std::int64_t> jobs;
  std::vector<pid_t> pgids;
  std::map<std::string, RunnerStatus> runners;  // a worker's, by name; cleared when it exits
  UniqueFd commands;                            // spare only: the write end of its command pipe
  std::vector<RecoverRequest> recoveries;       // asked of this process, not confirmed yet

  bool alive() const { return pid > 0; }
  bool spare() const { return life.spare(); }
  std::string worker_id() const { return name + "@" + std::to_string(pid); }
};

}  // namespace drover

#endif  // DROVER_SUPERVISOR_CHILD_H_
