#include "common/status.h"

#include <cerrno>
#include <cstring>

namespace drover {

Status Status::FromErrno(const std::string& what) { return FromErrno(what, errno); }

Status Status::FromErrno(const std::string& what, int err) {
  Code code = Code::kIoError;
  if (err == ENOENT) code = Code::kNotFound;
  if (err == EAGAIN || err == EWOULDBLOCK || err == EBUSY) code = Code::kBusy;
  return Status(code, what + ": " + std::strerror(err));
}

Status Status::Prefixed(const std::string& context) const {
  if (ok()) return *this;
  return Status(code_, context + ": " + message_);
}

std::string Status::ToString() const {
  if (ok()) return "OK";
  return message_;
}

}  // namespace drover
