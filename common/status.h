// Status and Result<T>: errors as values inside the drover libraries.
// Plain values; thread-compatible (no shared state).
#ifndef DROVER_COMMON_STATUS_H_
#define DROVER_COMMON_STATUS_H_

#include <optional>
#include <string>
#include <utility>
#include <variant>

namespace drover {

class [[nodiscard]] Status {
 public:
  enum class Code {
    kOk = 0,
    kNotFound,
    kInvalidArgument,
    kBusy,      // a lock or resource is held by someone else; retry later
    kConflict,  // the state changed under us (e.g. a stale worker's finish)
    kIoError,
    kCorruption,
    kUnsupported,
    kInternal,
  };

  Status() = default;
  static Status Ok() { return Status(); }
  static Status NotFound(std::string msg) { return Status(Code::kNotFound, std::move(msg)); }
  static Status InvalidArgument(std::string msg) { return Status(Code::kInvalidArgument, std::move(msg)); }
  static Status Busy(std::string msg) { return Status(Code::kBusy, std::move(msg)); }
  static Status Conflict(std::string msg) { return Status(Code::kConflict, std::move(msg)); }
  static Status IoError(std::string msg) { return Status(Code::kIoError, std::move(msg)); }
  static Status Corruption(std::string msg) { return Status(Code::kCorruption, std::move(msg)); }
  static Status Unsupported(std::string msg) { return Status(Code::kUnsupported, std::move(msg)); }
  static Status Internal(std::string msg) { return Status(Code::kInternal, std::move(msg)); }
  // An I/O error whose message is "<what>: <strerror(errno)>", read from the current errno.
  static Status FromErrno(const std::string& what);
  static Status FromErrno(const std::string& what, int err);

  bool ok() const { return code_ == Code::kOk; }
  Code code() const { return code_; }
  bool IsNotFound() const { return code_ == Code::kNotFound; }
  bool IsInvalidArgument() const { return code_ == Code::kInvalidArgument; }
  bool IsBusy() const { return code_ == Code::kBusy; }
  bool IsConflict() const { return code_ == Code::kConflict; }
  const std::string& message() const { return message_; }

  // Returns a copy whose message is "<context>: <message>" (unchanged when ok).
  Status Prefixed(const std::string& context) const;
  std::string ToString() const;

 private:
  Status(Code code, std::string msg) : code_(code), message_(std::move(msg)) {}
  Code code_ = Code::kOk;
  std::string message_;
};

// Either a value or a non-ok Status.
template <typename T>
class [[nodiscard]] Result {
 public:
  Result(T value) : v_(std::move(value)) {}         // NOLINT: implicit by design
  Result(Status status) : v_(std::move(status)) {}  // NOLINT: must not be ok

  bool ok() const { return std::holds_alternative<T>(v_); }
  const Status& status() const {
    static const Status kOk;
    return ok() ? kOk : std::get<Status>(v_);
  }
  T& value() & { return std::get<T>(v_); }
  const T& value() const& { return std::get<T>(v_); }
  T&& value() && { return std::get<T>(std::move(v_)); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }

 private:
  std::variant<T, Status> v_;
};

}  // namespace drover

#define DROVER_RETURN_IF_ERROR(expr) \
  do {                               \
    ::drover::Status _st = (expr);   \
    if (!_st.ok()) return _st;       \
  } while (0)

#endif  // DROVER_COMMON_STATUS_H_
