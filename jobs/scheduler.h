// The scheduler process's main loop: it enqueues the runs of periodic [schedules] when they fall
// due, and every `tick` beats the node's heartbeat and, on the leader node (the only one on
// SQLite), re-queues dead nodes' jobs, reaps expired leases, expires jobs past expires_at, prunes finished
// jobs past their retention in small batches, warns about stuck jobs and runs the WAL checkpoint (so workers
// never checkpoint on their hot path). Runs in a freshly forked child with its own store connection. Not
// thread-safe.
#ifndef DROVER_JOBS_SCHEDULER_H_
#define DROVER_JOBS_SCHEDULER_H_

#include "common/config.h"
#include "jobs/event_gate.h"
#include "jobs/store/job_store.h"

namespace drover {

struct SchedulerOptions {
  const Config* config = nullptr;
  int supervisor_fd = -1;     // heartbeat pipe; -1 for none
  JobStore* store = nullptr;  // this process's database connection (owned by the caller)
  // Open while someone follows the event stream: schedule and expiry events go to supervisor_fd
  // then. Null: never.
  const EventGate* events = nullptr;
};

// Runs until SIGTERM/SIGINT. Returns 0 after a clean stop, 1 on a fatal error (logged).
int RunScheduler(const SchedulerOptions& options);

}  // namespace drover

#endif  // DROVER_JOBS_SCHEDULER_H_
