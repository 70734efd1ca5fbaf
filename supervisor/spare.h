// A spare process: a child forked ahead of need that has already done the costly part of a
// start (post-fork reset, its logger, its own SQLite connection) and waits to be told which
// process to become. Page faults right after fork dominate a start on virtual machines
// (~15 µs each here, thousands per start), so a restart through a spare costs little more
// than a pipe round trip. Its open connection also re-queues a dead worker's jobs at once.
//
// Supervisor -> spare, one line each, on the command pipe:
//   recover SPEND WORKER_ID REASON     re-queue WORKER_ID's jobs (SPEND 1: the attempt counts)
//   become NAME                        turn into NAME ("scheduler", "worker:POOL:N")
// Spare -> supervisor, on its report pipe (which it keeps after `become`):
//   spare                              ready for commands
//   recovered WORKER_ID N              N jobs re-queued
//   recover-failed WORKER_ID MESSAGE
#ifndef DROVER_SUPERVISOR_SPARE_H_
#define DROVER_SUPERVISOR_SPARE_H_

#include <string>

#include "jobs/store/job_store.h"

namespace drover {

struct RecoverRequest {
  std::string worker_id;
  bool spend_attempt = false;
  std::string reason;  // kept as the jobs' last error
};

std::string RecoverCommand(const RecoverRequest& r);
std::string BecomeCommand(const std::string& name);

// Child side: answers recover commands until a become command and returns its NAME. Returns
// an empty string when the supervisor closes the command pipe or a read fails.
std::string ServeAsSpare(JobStore* store, int command_fd, int report_fd);

}  // namespace drover

#endif  // DROVER_SUPERVISOR_SPARE_H_
