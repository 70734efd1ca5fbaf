#include "common/logging.h"

#include <fcntl.h>
#include <spdlog/sinks/base_sink.h>
#include <spdlog/sinks/stdout_sinks.h>

#include <memory>
#include <mutex>

#include "common/unique_fd.h"

namespace drover {
namespace {

// Appends to a file opened O_APPEND|O_CLOEXEC (spdlog's own file sink leaks its descriptor into
// job processes): whole lines, one write each, so several processes can share the file.
class AppendFileSink final : public spdlog::sinks::base_sink<std::mutex> {
 public:
  explicit AppendFileSink(UniqueFd fd) : fd_(std::move(fd)) {}

 protected:
  void sink_it_(const spdlog::details::log_msg& msg) override {
    spdlog::memory_buf_t buf;
    formatter_->format(msg, buf);
    (void)WriteAll(fd_.get(), buf.data(), buf.size());
  }
  void flush_() override {}

 private:
  UniqueFd fd_;
};

}  // namespace

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
  if (options.file.empty()) {
    logger = std::make_shared<spdlog::logger>(name, std::make_shared<spdlog::sinks::stderr_sink_mt>());
  } else {
    UniqueFd fd(open(options.file.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640));
    if (!fd) return Status::FromErrno("open log file " + options.file);
    logger = std::make_shared<spdlog::logger>(name, std::make_shared<AppendFileSink>(std::move(fd)));
  }
  logger->set_pattern("%Y-%m-%dT%H:%M:%S.%e%z %^%-5l%$ [%n %P] %v");
  logger->set_level(spdlog::level::from_str(options.level));
  logger->flush_on(spdlog::level::trace);
  spdlog::drop_all();
  spdlog::set_default_logger(std::move(logger));
  return Status::Ok();
}

}  // namespace drover
