#include "common/logging.h"

#include <spdlog/sinks/basic_file_sink.h>
#include <spdlog/sinks/stdout_sinks.h>

#include <memory>

namespace drover {

bool IsValidLogLevel(const std::string& level) {
  return level == "trace" || level == "debug" || level == "info" || level == "warn" ||
         level == "error" || level == "off";
}

void DropLoggers() {
  spdlog::drop_all();
  spdlog::set_default_logger(std::make_shared<spdlog::logger>("", spdlog::sinks_init_list{}));
}

Status SetupLogging(const std::string& name, const LogOptions& options) {
  if (!IsValidLogLevel(options.level)) {
    return Status::InvalidArgument("unknown log level \"" + options.level +
                                   "\" (use trace, debug, info, warn, error or off)");
  }
  std::shared_ptr<spdlog::logger> logger;
  try {
    // Single-process sinks: every process has its own; the file sink appends with O_APPEND so
    // lines of several processes interleave whole.
    if (options.file.empty()) {
      logger = std::make_shared<spdlog::logger>(
          name, std::make_shared<spdlog::sinks::stderr_sink_mt>());
    } else {
      logger = std::make_shared<spdlog::logger>(
          name, std::make_shared<spdlog::sinks::basic_file_sink_mt>(options.file));
    }
  } catch (const spdlog::spdlog_ex& e) {
    return Status::IoError("open log file " + options.file + ": " + e.what());
  }
  logger->set_pattern("%Y-%m-%dT%H:%M:%S.%e%z %^%-5l%$ [%n %P] %v");
  logger->set_level(spdlog::level::from_str(options.level));
  logger->flush_on(spdlog::level::trace);
  spdlog::drop_all();
  spdlog::set_default_logger(std::move(logger));
  return Status::Ok();
}

}  // namespace drover
