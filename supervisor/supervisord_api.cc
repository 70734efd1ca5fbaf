#include "supervisor/supervisord_api.h"

#include <time.h>

#include <algorithm>

namespace drover {

const char* RpcFaultName(int code) {
  switch (code) {
    case kUnknownMethod:
      return "UNKNOWN_METHOD";
    case kIncorrectParameters:
      return "INCORRECT_PARAMETERS";
    case kBadArguments:
      return "BAD_ARGUMENTS";
    case kShutdownState:
      return "SHUTDOWN_STATE";
    case kBadName:
      return "BAD_NAME";
    case kBadSignal:
      return "BAD_SIGNAL";
    case kNoFile:
      return "NO_FILE";
    case kFailed:
      return "FAILED";
    case kAbnormalTermination:
      return "ABNORMAL_TERMINATION";
    case kSpawnError:
      return "SPAWN_ERROR";
    case kAlreadyStarted:
      return "ALREADY_STARTED";
    case kNotRunning:
      return "NOT_RUNNING";
    case kSuccess:
      return "SUCCESS";
    case kAlreadyAdded:
      return "ALREADY_ADDED";
    case kStillRunning:
      return "STILL_RUNNING";
    case kCantReread:
      return "CANT_REREAD";
    default:
      return "UNKNOWN";
  }
}

RpcOutcome RpcOutcome::Fault(int code, const std::string& detail) {
  std::string message = RpcFaultName(code);
  if (!detail.empty()) message += ": " + detail;
  return {true, code, std::move(message), nullptr};
}

nlohmann::json RpcProcessResult(const std::string& group, const std::string& name, const RpcOutcome& o) {
  return {{"name", name},
          {"group", group},
          {"status", o.fault ? o.code : static_cast<int>(kSuccess)},
          {"description", o.fault ? o.message : "OK"}};
}

int SupervisordStateCode(ProcState s) {
  switch (s) {
    case ProcState::kStopped:
      return 0;
    case ProcState::kStarting:
    case ProcState::kSpare:
      return 10;
    case ProcState::kRunning:
      return 20;
    case ProcState::kBackoff:
      return 30;
    case ProcState::kStopping:
    case ProcState::kDraining:
      return 40;
    case ProcState::kExited:
      return 100;
    case ProcState::kFatal:
      return 200;
  }
  return 1000;  // supervisord's UNKNOWN
}

bool InRunningStates(ProcState s) {
  return s == ProcState::kStarting || s == ProcState::kRunning || s == ProcState::kBackoff;
}

bool InStoppedStates(ProcState s) {
  return s == ProcState::kStopped || s == ProcState::kExited || s == ProcState::kFatal;
}

std::string ProcessDescription(const ProcessFacts& p) {
  switch (p.state) {
    case ProcState::kRunning: {
      std::int64_t up = std::max<std::int64_t>(0, p.now_s - p.start_s);
      std::int64_t days = up / 86400;
      up %= 86400;
      char hms[32];
      snprintf(hms, sizeof hms, "%lld:%02lld:%02lld", static_cast<long long>(up / 3600),
               static_cast<long long>(up / 60 % 60), static_cast<long long>(up % 60));
      std::string uptime = days == 0 ? hms : std::to_string(days) + (days == 1 ? " day, " : " days, ") + hms;
      return "pid " + std::to_string(p.pid) + ", uptime " + uptime;
    }
    case ProcState::kBackoff:
    case ProcState::kFatal:
      return p.spawnerr.empty() ? "unknown error (try \"tail " + p.name + "\")" : p.spawnerr;
    case ProcState::kStopped:
    case ProcState::kExited: {
      if (p.start_s == 0) return "Not started";
      time_t stop = static_cast<time_t>(p.stop_s);
      tm local{};
      localtime_r(&stop, &local);
      char buf[64];
      strftime(buf, sizeof buf, "%b %d %I:%M %p", &local);
      return buf;
    }
    default:
      return "";
  }
}

std::optional<std::string> ReadLogSlice(std::string_view content, std::int64_t offset, std::int64_t length) {
  const auto size = static_cast<std::int64_t>(content.size());
  if (offset < 0) {
    if (length != 0) return std::nullopt;
    std::int64_t from = std::max<std::int64_t>(0, size + offset);
    return std::string(content.substr(static_cast<size_t>(from)));
  }
  if (length < 0) return std::nullopt;
  if (offset >= size) return std::string();
  std::string_view rest = content.substr(static_cast<size_t>(offset));
  return std::string(length == 0 ? rest : rest.substr(0, static_cast<size_t>(length)));
}

nlohmann::json TailLogSlice(std::string_view content, std::int64_t offset, std::int64_t length) {
  // supervisord's arithmetic, so that its clients' follow loops behave as they do there.
  const auto size = static_cast<std::int64_t>(content.size());
  bool overflow = false;
  if (size > offset + length) {
    overflow = true;
    offset = size - 1;
  }
  if (offset + length > size) {
    if (offset > size - 1) length = 0;
    offset = size - length;
  }
  offset = std::max<std::int64_t>(0, offset);
  length = std::max<std::int64_t>(0, length);
  std::string bytes;
  if (length > 0 && offset < size)
    bytes = content.substr(static_cast<size_t>(offset), static_cast<size_t>(length));
  return nlohmann::json::array({bytes, size, overflow});
}

bool ParamsFit(const nlohmann::json& params, std::string_view signature) {
  if (!params.is_array()) return false;
  size_t bar = signature.find('|');
  size_t required = bar == std::string_view::npos ? signature.size() : bar;
  std::string letters(signature);
  letters.erase(std::remove(letters.begin(), letters.end(), '|'), letters.end());
  if (params.size() < required || params.size() > letters.size()) return false;
  for (size_t i = 0; i < params.size(); ++i) {
    const nlohmann::json& p = params[i];
    bool fits = false;
    switch (letters[i]) {
      case 's':
        fits = p.is_string();
        break;
      case 'b':
        fits = p.is_boolean();
        break;
      case 'i':
        fits = p.is_number_integer();
        break;
      case 'x':
        fits = p.is_string() || p.is_number_integer();
        break;
      case 'a':
        fits = p.is_array();
        break;
    }
    if (!fits) return false;
  }
  return true;
}

}  // namespace drover
