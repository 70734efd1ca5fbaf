// droverd's supervisor: forks one scheduler and the workers of every pool, restarts them
// after a cool-off, re-queues what a dead worker held, serves the control socket, and
// handles SIGTERM/SIGINT (graceful stop) and SIGHUP (reload). Single-threaded, one epoll
// loop; it holds no SQLite handle and no thread when it forks.
#ifndef DROVER_SUPERVISOR_SUPERVISOR_H_
#define DROVER_SUPERVISOR_SUPERVISOR_H_

#include "common/config.h"
#include "jobs/handler.h"

namespace drover {

// Checks what the program must provide for `config`: every [jobs.NAME] without `command`
// needs a registered handler. Returns InvalidArgument naming the job and the file.
Status CheckHandlers(const Config& config, const HandlerRegistry& handlers);

// Runs the supervisor until it is shut down. Returns the process exit code: 0 after a clean
// shutdown, 1 when it could not start (the reason is logged).
int RunSupervisor(Config config, const HandlerRegistry& handlers);

// The whole droverd command line (-c FILE, --check-config, --version, --help): what
// droverd's main() and programs that embed drover with their own handlers call.
int DroverdMain(int argc, char** argv, const HandlerRegistry& handlers);

}  // namespace drover

#endif  // DROVER_SUPERVISOR_SUPERVISOR_H_
