// Logging setup: one synchronous spdlog logger per process, named after the process
// ("supervisor", "scheduler", "worker:default:1"). Call SetupLogging again right after fork:
// loggers and their sinks never cross fork (no async logger, no background thread).
#ifndef DROVER_COMMON_LOGGING_H_
#define DROVER_COMMON_LOGGING_H_

#include <spdlog/spdlog.h>

#include <string>

#include "common/status.h"

namespace drover {

struct LogOptions {
  std::string level = "info";  // trace|debug|info|warn|error|off
  std::string file;            // empty: stderr
};

// Replaces the default logger with one named `name` writing to the options' sink. Fails on an
// unknown level or an unwritable file (the old logger stays in place then).
Status SetupLogging(const std::string& name, const LogOptions& options);

// Destroys every logger and sink (closing an inherited log file), leaving a logger without
// sinks as the default. A child calls this right after fork, before closing inherited fds.
void DropLoggers();

// True for the level names SetupLogging accepts.
bool IsValidLogLevel(const std::string& level);

}  // namespace drover

#endif  // DROVER_COMMON_LOGGING_H_
