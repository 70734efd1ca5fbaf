#include "common/logging.h"

#include <fcntl.h>
#include <spdlog/sinks/base_sink.h>

#include <memory>
#include <mutex>

#include "common/escape.h"
#include "common/unique_fd.h"

namespace drover {
namespace {

// Appends to a file opened O_APPEND|O_CLOEXEC (spdlog's own file sink leaks its descriptor into
// job processes), or to stderr: whole lines, one write each, so several processes can share the
// file. Control characters in a message (a job type, an error, a job's output), C1 controls and
// bytes that are not UTF-8 are escaped, so no message can forge a log line or drive a terminal.
class LineSink final : public spdlog::sinks::base_sink<std::mutex> {
 public:
  explicit LineSink(UniqueFd fd) : fd_(std::move(fd)) {}

 protected:
  void sink_it_(const spdlog::details::log_msg& msg) override {
    spdlog::memory_buf_t buf;
    std::string_view text(msg.payload.data(), msg.payload.size());
    bool escape = false;
    // Bytes past ASCII are looked at too: C1 controls and bytes that are not UTF-8.
    for (char c : text) escape |= IsEscaped(static_cast<unsigned char>(c), false) || (c & 0x80);
    if (escape) {
      std::string safe = EscapeControl(text);
      spdlog::details::log_msg copy = msg;
      copy.payload = spdlog::string_view_t(safe.data(), safe.size());
      formatter_->format(copy, buf);
    } else {
      formatter_->format(msg, buf);
    }
    (void)WriteAll(fd_.get(), buf.data(), buf.size());
  }
  void flush_() override {}

 private:
  UniqueFd fd_;
};

}  // namespace

bool IsValidLogLevel(const std::string& level) {
  return level == "trace" || level == "debug" || level == "info" || level == "warn" || level == "error" ||
         level == "off";
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
  UniqueFd fd;
  if (options.file.empty()) {
    fd.Reset(fcntl(STDERR_FILENO, F_DUPFD_CLOEXEC, 3));
    if (!fd) return Status::FromErrno("dup stderr for logging");
  } else {
    // O_NOFOLLOW: a link planted at the log path must not make droverd write elsewhere.
    fd.Reset(open(options.file.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0640));
    if (!fd) return Status::FromErrno("open log file " + options.file);
  }
  logger = std::make_shared<spdlog::logger>(name, std::make_shared<LineSink>(std::move(fd)));
  logger->set_pattern("%Y-%m-%dT%H:%M:%S.%e%z %^%-5l%$ [%n %P] %v");
  logger->set_level(spdlog::level::from_str(options.level));
  logger->flush_on(spdlog::level::trace);
  spdlog::drop_all();
  spdlog::set_default_logger(std::move(logger));
  return Status::Ok();
}

}  // namespace drover
