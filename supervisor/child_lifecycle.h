// ChildLifecycle: the life of one supervised process slot (the scheduler, a worker, the spare)
// as a state machine with no I/O. The supervisor feeds it events with the current time and
// carries out the actions it returns (fork, SIGTERM, SIGKILL, re-queue). Every timer belongs
// to a state and ends when the state is left, so no stale deadline can fire on a later
// process. Pure and deterministic given its delay function; not thread-safe.
#ifndef DROVER_SUPERVISOR_CHILD_LIFECYCLE_H_
#define DROVER_SUPERVISOR_CHILD_LIFECYCLE_H_

#include <cstdint>
#include <functional>

#include "common/duration.h"

namespace drover {

// supervisord's states, plus SPARE: a process forked ahead of need, idle until it becomes a child,
// and DRAINING: a worker replaced by a reload, which claims nothing and exits once its jobs end.
enum class ProcState {
  kStopped,
  kStarting,
  kRunning,
  kBackoff,
  kStopping,
  kExited,
  kFatal,
  kSpare,
  kDraining
};

const char* ProcStateName(ProcState s);

struct LifecyclePolicy {
  std::int64_t startsecs_us = 10'000'000;     // up this long: the next crash is not "rapid"
  int startretries = 0;                       // rapid failures before FATAL; 0 = never give up
  std::int64_t hang_timeout_us = 60'000'000;  // silent this long while up: SIGTERM
  std::int64_t hang_grace_us = 5'000'000;     // then SIGKILL this much later
  std::int64_t stop_grace_us = 40'000'000;    // after a stop's SIGTERM, SIGKILL this much later
  // The cool-off before restart number `failures` (>= 1) of a run of rapid failures.
  std::function<std::int64_t(int failures)> restart_delay_us;
};

// What the supervisor must do now. Several may be set; carry them out in field order.
struct LifecycleActions {
  bool kill = false;       // SIGKILL the process
  bool terminate = false;  // SIGTERM the process
  bool spawn = false;      // start a process now (then OnSpawned or OnSpawnFailed)
  bool drain = false;      // SIGHUP the process: claim nothing more, exit once the running jobs end
  bool operator==(const LifecycleActions&) const = default;
};

// How a process ended, as the lifecycle judged it (from OnExit).
struct ExitVerdict {
  bool expected = false;           // asked to stop (stop, retire, shutdown): its jobs keep their attempt
  bool restart_scheduled = false;  // BACKOFF: restart at restart_at_us()
  bool gave_up = false;            // FATAL: too many rapid failures
  LifecycleActions actions;        // spawn: a start that waited for the exit
};

class ChildLifecycle {
 public:
  explicit ChildLifecycle(const LifecyclePolicy* policy, bool spare = false)
      : policy_(policy), spare_(spare) {}

  ProcState state() const { return state_; }
  bool alive() const { return alive_; }
  bool spare() const { return spare_; }
  bool retired() const { return retired_; }
  // A start was asked for while STOPPING: the process starts again once the old one exits.
  bool start_pending() const { return start_pending_; }
  int rapid_failures() const { return rapid_failures_; }
  std::int64_t started_us() const { return started_us_; }
  std::int64_t restart_at_us() const { return state_ == ProcState::kBackoff ? restart_at_us_ : 0; }
  // The next time OnTimer has something to do; 0 when no timer runs in this state.
  std::int64_t NextDeadline() const;

  // An operator's (or the supervisor's own) request that the process run.
  LifecycleActions OnStart(std::int64_t now_us);
  // An operator's request that the process stop and stay stopped.
  LifecycleActions OnStop(std::int64_t now_us);
  // The slot is handed to a new process (reload, restart, recycle): stop this one, never restart
  // it; it ends EXITED.
  LifecycleActions OnRetire(std::int64_t now_us);
  // The same for a worker whose jobs must not be interrupted (a reload): DRAINING until it exits,
  // with no deadline but the silence of a hung process (hang_timeout).
  LifecycleActions OnDrain(std::int64_t now_us);
  // A process was started for this slot (forked, or the spare became it): STARTING.
  void OnSpawned(std::int64_t now_us);
  // Starting one failed (fork, pipe): counts as a rapid failure; BACKOFF (or FATAL).
  void OnSpawnFailed(std::int64_t now_us);
  // The process said it is ready: RUNNING (SPARE for a spare).
  void OnReady(std::int64_t now_us);
  // Any sign of life from the process (a heartbeat, any report).
  void OnHeartbeat(std::int64_t now_us);
  // The process was reaped.
  ExitVerdict OnExit(std::int64_t now_us);
  // Timers that are due at `now_us`: restart after the cool-off, SIGKILL after the stop grace,
  // SIGTERM for a silent process.
  LifecycleActions OnTimer(std::int64_t now_us);

 private:
  void EnterStopping(std::int64_t now_us, std::int64_t grace_us);
  void EnterBackoff(std::int64_t now_us);

  const LifecyclePolicy* policy_;
  bool spare_;
  ProcState state_ = ProcState::kStopped;
  bool alive_ = false;
  bool retired_ = false;
  bool start_pending_ = false;
  bool hung_ = false;  // STOPPING because it went silent: restart after it exits
  int rapid_failures_ = 0;
  std::int64_t started_us_ = 0, last_seen_us_ = 0;
  std::int64_t restart_at_us_ = 0;  // BACKOFF
  std::int64_t kill_at_us_ = 0;     // STOPPING, until the SIGKILL is sent
};

}  // namespace drover

#endif  // DROVER_SUPERVISOR_CHILD_LIFECYCLE_H_
