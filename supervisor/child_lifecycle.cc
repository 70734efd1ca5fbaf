#include "supervisor/child_lifecycle.h"

#include <algorithm>
#include <utility>

namespace drover {

const char* ProcStateName(ProcState s) {
  switch (s) {
    case ProcState::kStopped:
      return "STOPPED";
    case ProcState::kStarting:
      return "STARTING";
    case ProcState::kRunning:
      return "RUNNING";
    case ProcState::kBackoff:
      return "BACKOFF";
    case ProcState::kStopping:
      return "STOPPING";
    case ProcState::kExited:
      return "EXITED";
    case ProcState::kFatal:
      return "FATAL";
    case ProcState::kSpare:
      return "SPARE";
    case ProcState::kDraining:
      return "DRAINING";
  }
  return "UNKNOWN";
}

std::int64_t ChildLifecycle::NextDeadline() const {
  switch (state_) {
    case ProcState::kBackoff:
      return restart_at_us_;
    case ProcState::kStopping:
      return kill_at_us_;
    case ProcState::kStarting:
    case ProcState::kRunning:
    case ProcState::kDraining:
      return spare_ ? 0 : last_seen_us_ + policy_->hang_timeout_us;
    default:
      return 0;
  }
}

LifecycleActions ChildLifecycle::OnStart(std::int64_t) {
  LifecycleActions a;
  if (retired_) return a;
  switch (state_) {
    case ProcState::kStopped:
    case ProcState::kExited:
    case ProcState::kFatal:
      rapid_failures_ = 0;  // an operator's start begins a new run of tries
      a.spawn = true;
      break;
    case ProcState::kBackoff:
      a.spawn = true;  // no need to sit out the cool-off when asked
      break;
    case ProcState::kStopping:
      start_pending_ = true;  // carried out when the old process has exited
      break;
    case ProcState::kStarting:
    case ProcState::kRunning:
    case ProcState::kSpare:
    case ProcState::kDraining:
      break;
  }
  return a;
}

LifecycleActions ChildLifecycle::OnStop(std::int64_t now_us) {
  LifecycleActions a;
  start_pending_ = false;
  hung_ = false;  // a hung process being stopped now stays stopped
  switch (state_) {
    case ProcState::kStarting:
    case ProcState::kRunning:
    case ProcState::kSpare:
    case ProcState::kDraining:
      EnterStopping(now_us, policy_->stop_grace_us);
      a.terminate = true;
      break;
    case ProcState::kBackoff:
      state_ = ProcState::kStopped;
      break;
    default:
      break;
  }
  return a;
}

LifecycleActions ChildLifecycle::OnRetire(std::int64_t now_us) {
  retired_ = true;
  start_pending_ = false;
  hung_ = false;
  if (!alive_) {
    state_ = ProcState::kExited;
    return {};
  }
  if (state_ == ProcState::kStopping) return {};
  EnterStopping(now_us, policy_->stop_grace_us);
  LifecycleActions a;
  a.terminate = true;
  return a;
}

LifecycleActions ChildLifecycle::OnDrain(std::int64_t now_us) {
  if (state_ == ProcState::kDraining) return {};
  if (!alive_ || state_ == ProcState::kStopping || state_ == ProcState::kSpare) return OnRetire(now_us);
  retired_ = true;
  start_pending_ = false;
  hung_ = false;
  state_ = ProcState::kDraining;
  last_seen_us_ = now_us;
  LifecycleActions a;
  a.drain = true;
  return a;
}

void ChildLifecycle::OnSpawned(std::int64_t now_us) {
  alive_ = true;
  state_ = ProcState::kStarting;
  started_us_ = last_seen_us_ = now_us;
  kill_at_us_ = restart_at_us_ = 0;
  hung_ = start_pending_ = false;
}

void ChildLifecycle::OnSpawnFailed(std::int64_t now_us) {
  alive_ = false;
  ++rapid_failures_;
  EnterBackoff(now_us);
}

void ChildLifecycle::OnReady(std::int64_t now_us) {
  last_seen_us_ = now_us;
  if (state_ == ProcState::kStarting) state_ = spare_ ? ProcState::kSpare : ProcState::kRunning;
}

void ChildLifecycle::OnHeartbeat(std::int64_t now_us) { last_seen_us_ = now_us; }

ExitVerdict ChildLifecycle::OnExit(std::int64_t now_us) {
  ExitVerdict v;
  if (!alive_) {  // nothing was running: nothing changes
    v.expected = true;
    return v;
  }
  alive_ = false;
  kill_at_us_ = 0;
  if (retired_) {
    state_ = ProcState::kExited;
    v.expected = true;
    return v;
  }
  if (state_ == ProcState::kStopping && !hung_) {
    v.expected = true;
    state_ = ProcState::kStopped;
    v.actions.spawn = std::exchange(start_pending_, false);
    return v;
  }
  hung_ = start_pending_ = false;
  bool rapid = now_us - started_us_ < policy_->startsecs_us;
  rapid_failures_ = rapid ? rapid_failures_ + 1 : 1;
  EnterBackoff(now_us);
  v.restart_scheduled = state_ == ProcState::kBackoff;
  v.gave_up = state_ == ProcState::kFatal;
  return v;
}

LifecycleActions ChildLifecycle::OnTimer(std::int64_t now_us) {
  LifecycleActions a;
  std::int64_t due = NextDeadline();
  if (due == 0 || now_us < due) return a;
  switch (state_) {
    case ProcState::kBackoff:
      a.spawn = true;
      break;
    case ProcState::kStopping:
      a.kill = true;
      kill_at_us_ = 0;  // one SIGKILL; the exit ends the state
      break;
    case ProcState::kStarting:
    case ProcState::kRunning:
    case ProcState::kDraining:
      EnterStopping(now_us, std::min(policy_->hang_grace_us, policy_->hang_timeout_us));
      hung_ = true;
      a.terminate = true;
      break;
    default:
      break;
  }
  return a;
}

void ChildLifecycle::EnterStopping(std::int64_t now_us, std::int64_t grace_us) {
  state_ = ProcState::kStopping;
  kill_at_us_ = now_us + std::max<std::int64_t>(grace_us, 1);
}

void ChildLifecycle::EnterBackoff(std::int64_t now_us) {
  if (policy_->startretries > 0 && rapid_failures_ > policy_->startretries) {
    state_ = ProcState::kFatal;
    return;
  }
  std::int64_t delay =
      policy_->restart_delay_us ? policy_->restart_delay_us(std::max(1, rapid_failures_)) : 0;
  state_ = ProcState::kBackoff;
  restart_at_us_ = now_us + std::max<std::int64_t>(delay, 0);
}

}  // namespace drover
