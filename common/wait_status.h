// How a process ended, as logs and job errors say it. Pure; thread-safe.
#ifndef DROVER_COMMON_WAIT_STATUS_H_
#define DROVER_COMMON_WAIT_STATUS_H_

#include <string>

namespace drover {

// "exit status 2", "killed by signal 9 (SIGKILL)", from a waitpid status.
std::string DescribeWaitStatus(int wait_status);

}  // namespace drover

#endif  // DROVER_COMMON_WAIT_STATUS_H_
