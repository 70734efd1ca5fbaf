#include "supervisor/child_lifecycle.h"

#include <gtest/gtest.h>

#include <optional>
#include <string>

namespace drover {
namespace {

constexpr std::int64_t kS = 1'000'000;   // one second in µs
constexpr std::int64_t kT0 = 1000 * kS;  // when the state under test was entered
constexpr std::int64_t kT = kT0 + kS;    // when the event arrives (timers: at their deadline)
constexpr std::int64_t kNone = -1;

LifecyclePolicy Policy(int startretries = 0) {
  LifecyclePolicy p;
  p.startsecs_us = 10 * kS;
  p.startretries = startretries;
  p.hang_timeout_us = 60 * kS;
  p.hang_grace_us = 5 * kS;
  p.stop_grace_us = 40 * kS;
  p.restart_delay_us = [](int failures) { return kS << (failures - 1); };  // 1 s, 2 s, 4 s, ...
  return p;
}

const LifecyclePolicy kPolicy = Policy();
const LifecyclePolicy kFatalPolicy = Policy(1);

// A lifecycle brought into `s`, the last transition at kT0.
ChildLifecycle In(ProcState s) {
  bool spare = s == ProcState::kSpare;
  ChildLifecycle l(s == ProcState::kFatal ? &kFatalPolicy : &kPolicy, spare);
  auto start = [&](std::int64_t at) {
    EXPECT_TRUE(l.OnStart(at).spawn);
    l.OnSpawned(at);
  };
  switch (s) {
    case ProcState::kStopped:
      break;
    case ProcState::kStarting:
      start(kT0);
      break;
    case ProcState::kRunning:
    case ProcState::kSpare:
      start(kT0);
      l.OnReady(kT0);
      break;
    case ProcState::kBackoff:
      start(kT0 - kS);
      l.OnReady(kT0 - kS);
      (void)l.OnExit(kT0);
      break;
    case ProcState::kStopping:
      start(kT0 - kS);
      l.OnReady(kT0 - kS);
      (void)l.OnStop(kT0);
      break;
    case ProcState::kExited:
      start(kT0 - kS);
      (void)l.OnRetire(kT0);
      (void)l.OnExit(kT0);
      break;
    case ProcState::kDraining:
      start(kT0 - kS);
      l.OnReady(kT0 - kS);
      (void)l.OnDrain(kT0);
      break;
    case ProcState::kFatal:
      start(kT0 - 2 * kS);
      (void)l.OnExit(kT0 - 2 * kS);
      l.OnSpawned(kT0 - kS);
      (void)l.OnExit(kT0);
      break;
  }
  EXPECT_EQ(l.state(), s);
  return l;
}

enum class Ev { kStart, kStop, kRetire, kDrain, kSpawned, kSpawnFailed, kReady, kHeartbeat, kExit, kTimer };

const char* EvName(Ev e) {
  static const char* kNames[] = {"start",        "stop",  "retire",    "drain", "spawned",
                                 "spawn-failed", "ready", "heartbeat", "exit",  "timer"};
  return kNames[static_cast<int>(e)];
}

struct Row {
  ProcState from;
  Ev event;
  ProcState to;
  LifecycleActions actions;
  std::int64_t deadline;  // NextDeadline() afterwards, relative to the event's time; kNone: no timer
  std::optional<bool> expected_exit = std::nullopt;  // for exits: judged as asked-for
};

constexpr LifecycleActions kNoAction{};
constexpr LifecycleActions kSpawn{false, false, true};
constexpr LifecycleActions kTerm{false, true, false};
constexpr LifecycleActions kKill{true, false, false};
constexpr LifecycleActions kDrain{false, false, false, true};

using P = ProcState;
const Row kRows[] = {
    // STOPPED: nothing runs, no timer.
    {P::kStopped, Ev::kStart, P::kStopped, kSpawn, kNone},
    {P::kStopped, Ev::kStop, P::kStopped, kNoAction, kNone},
    {P::kStopped, Ev::kRetire, P::kExited, kNoAction, kNone},
    {P::kStopped, Ev::kDrain, P::kExited, kNoAction, kNone},
    {P::kStopped, Ev::kSpawned, P::kStarting, kNoAction, 60 * kS},
    {P::kStopped, Ev::kSpawnFailed, P::kBackoff, kNoAction, kS},
    {P::kStopped, Ev::kReady, P::kStopped, kNoAction, kNone},
    {P::kStopped, Ev::kHeartbeat, P::kStopped, kNoAction, kNone},
    {P::kStopped, Ev::kExit, P::kStopped, kNoAction, kNone, true},
    {P::kStopped, Ev::kTimer, P::kStopped, kNoAction, kNone},
    // STARTING: watched for silence from the spawn on.
    {P::kStarting, Ev::kStart, P::kStarting, kNoAction, 59 * kS},
    {P::kStarting, Ev::kStop, P::kStopping, kTerm, 40 * kS},
    {P::kStarting, Ev::kRetire, P::kStopping, kTerm, 40 * kS},
    {P::kStarting, Ev::kDrain, P::kDraining, kDrain, 60 * kS},
    {P::kStarting, Ev::kSpawned, P::kStarting, kNoAction, 60 * kS},
    {P::kStarting, Ev::kSpawnFailed, P::kBackoff, kNoAction, kS},
    {P::kStarting, Ev::kReady, P::kRunning, kNoAction, 60 * kS},
    {P::kStarting, Ev::kHeartbeat, P::kStarting, kNoAction, 60 * kS},
    {P::kStarting, Ev::kExit, P::kBackoff, kNoAction, kS, false},
    {P::kStarting, Ev::kTimer, P::kStopping, kTerm, 5 * kS},
    // RUNNING
    {P::kRunning, Ev::kStart, P::kRunning, kNoAction, 59 * kS},
    {P::kRunning, Ev::kStop, P::kStopping, kTerm, 40 * kS},
    {P::kRunning, Ev::kRetire, P::kStopping, kTerm, 40 * kS},
    {P::kRunning, Ev::kDrain, P::kDraining, kDrain, 60 * kS},
    {P::kRunning, Ev::kSpawned, P::kStarting, kNoAction, 60 * kS},
    {P::kRunning, Ev::kSpawnFailed, P::kBackoff, kNoAction, kS},
    {P::kRunning, Ev::kReady, P::kRunning, kNoAction, 60 * kS},
    {P::kRunning, Ev::kHeartbeat, P::kRunning, kNoAction, 60 * kS},
    {P::kRunning, Ev::kExit, P::kBackoff, kNoAction, kS, false},
    {P::kRunning, Ev::kTimer, P::kStopping, kTerm, 5 * kS},
    // BACKOFF: restart at kT0 + 1 s (the timer row fires there).
    {P::kBackoff, Ev::kStart, P::kBackoff, kSpawn, 0},
    {P::kBackoff, Ev::kStop, P::kStopped, kNoAction, kNone},
    {P::kBackoff, Ev::kRetire, P::kExited, kNoAction, kNone},
    {P::kBackoff, Ev::kDrain, P::kExited, kNoAction, kNone},
    {P::kBackoff, Ev::kSpawned, P::kStarting, kNoAction, 60 * kS},
    {P::kBackoff, Ev::kSpawnFailed, P::kBackoff, kNoAction, 2 * kS},
    {P::kBackoff, Ev::kReady, P::kBackoff, kNoAction, 0},
    {P::kBackoff, Ev::kHeartbeat, P::kBackoff, kNoAction, 0},
    {P::kBackoff, Ev::kExit, P::kBackoff, kNoAction, 0, true},
    {P::kBackoff, Ev::kTimer, P::kBackoff, kSpawn, 0},
    // STOPPING: SIGKILL at kT0 + 40 s, once; a start waits for the exit.
    {P::kStopping, Ev::kStart, P::kStopping, kNoAction, 39 * kS},
    {P::kStopping, Ev::kStop, P::kStopping, kNoAction, 39 * kS},
    {P::kStopping, Ev::kRetire, P::kStopping, kNoAction, 39 * kS},
    {P::kStopping, Ev::kDrain, P::kStopping, kNoAction, 39 * kS},
    {P::kStopping, Ev::kSpawned, P::kStarting, kNoAction, 60 * kS},
    {P::kStopping, Ev::kSpawnFailed, P::kBackoff, kNoAction, kS},
    {P::kStopping, Ev::kReady, P::kStopping, kNoAction, 39 * kS},
    {P::kStopping, Ev::kHeartbeat, P::kStopping, kNoAction, 39 * kS},
    {P::kStopping, Ev::kExit, P::kStopped, kNoAction, kNone, true},
    {P::kStopping, Ev::kTimer, P::kStopping, kKill, kNone},
    // EXITED: a retired process that has gone; its slot belongs to another.
    {P::kExited, Ev::kStart, P::kExited, kNoAction, kNone},
    {P::kExited, Ev::kStop, P::kExited, kNoAction, kNone},
    {P::kExited, Ev::kRetire, P::kExited, kNoAction, kNone},
    {P::kExited, Ev::kDrain, P::kExited, kNoAction, kNone},
    {P::kExited, Ev::kSpawned, P::kStarting, kNoAction, 60 * kS},  // the supervisor never does this
    {P::kExited, Ev::kSpawnFailed, P::kBackoff, kNoAction, kS},
    {P::kExited, Ev::kReady, P::kExited, kNoAction, kNone},
    {P::kExited, Ev::kHeartbeat, P::kExited, kNoAction, kNone},
    {P::kExited, Ev::kExit, P::kExited, kNoAction, kNone, true},
    {P::kExited, Ev::kTimer, P::kExited, kNoAction, kNone},
    // FATAL: given up; only an operator's start tries again.
    {P::kFatal, Ev::kStart, P::kFatal, kSpawn, kNone},
    {P::kFatal, Ev::kStop, P::kFatal, kNoAction, kNone},
    {P::kFatal, Ev::kRetire, P::kExited, kNoAction, kNone},
    {P::kFatal, Ev::kDrain, P::kExited, kNoAction, kNone},
    {P::kFatal, Ev::kSpawned, P::kStarting, kNoAction, 60 * kS},
    {P::kFatal, Ev::kSpawnFailed, P::kFatal, kNoAction, kNone},
    {P::kFatal, Ev::kReady, P::kFatal, kNoAction, kNone},
    {P::kFatal, Ev::kHeartbeat, P::kFatal, kNoAction, kNone},
    {P::kFatal, Ev::kExit, P::kFatal, kNoAction, kNone, true},
    {P::kFatal, Ev::kTimer, P::kFatal, kNoAction, kNone},
    // SPARE: idle and quiet by design, so not watched for silence.
    {P::kSpare, Ev::kStart, P::kSpare, kNoAction, kNone},
    {P::kSpare, Ev::kStop, P::kStopping, kTerm, 40 * kS},
    {P::kSpare, Ev::kRetire, P::kStopping, kTerm, 40 * kS},
    {P::kSpare, Ev::kDrain, P::kStopping, kTerm, 40 * kS},
    {P::kSpare, Ev::kSpawned, P::kStarting, kNoAction, kNone},
    {P::kSpare, Ev::kSpawnFailed, P::kBackoff, kNoAction, kS},
    {P::kSpare, Ev::kReady, P::kSpare, kNoAction, kNone},
    {P::kSpare, Ev::kHeartbeat, P::kSpare, kNoAction, kNone},
    {P::kSpare, Ev::kExit, P::kBackoff, kNoAction, kS, false},
    {P::kSpare, Ev::kTimer, P::kSpare, kNoAction, kNone},
    // DRAINING: a replaced worker finishing its jobs, with no deadline but silence (hang_timeout).
    {P::kDraining, Ev::kStart, P::kDraining, kNoAction, 59 * kS},
    {P::kDraining, Ev::kStop, P::kStopping, kTerm, 40 * kS},
    {P::kDraining, Ev::kRetire, P::kStopping, kTerm, 40 * kS},
    {P::kDraining, Ev::kDrain, P::kDraining, kNoAction, 59 * kS},
    {P::kDraining, Ev::kSpawned, P::kStarting, kNoAction, 60 * kS},  // the supervisor never does this
    {P::kDraining, Ev::kSpawnFailed, P::kBackoff, kNoAction, kS},
    {P::kDraining, Ev::kReady, P::kDraining, kNoAction, 60 * kS},
    {P::kDraining, Ev::kHeartbeat, P::kDraining, kNoAction, 60 * kS},
    {P::kDraining, Ev::kExit, P::kExited, kNoAction, kNone, true},
    {P::kDraining, Ev::kTimer, P::kStopping, kTerm, 5 * kS},
};

TEST(ChildLifecycleTest, EveryStateAndEvent) {
  for (const Row& row : kRows) {
    SCOPED_TRACE(std::string(ProcStateName(row.from)) + " + " + EvName(row.event));
    ChildLifecycle l = In(row.from);
    std::int64_t at = kT;
    if (row.event == Ev::kTimer && l.NextDeadline() > 0) at = l.NextDeadline();
    LifecycleActions a;
    std::optional<bool> expected;
    switch (row.event) {
      case Ev::kStart:
        a = l.OnStart(at);
        break;
      case Ev::kStop:
        a = l.OnStop(at);
        break;
      case Ev::kRetire:
        a = l.OnRetire(at);
        break;
      case Ev::kDrain:
        a = l.OnDrain(at);
        break;
      case Ev::kSpawned:
        l.OnSpawned(at);
        break;
      case Ev::kSpawnFailed:
        l.OnSpawnFailed(at);
        break;
      case Ev::kReady:
        l.OnReady(at);
        break;
      case Ev::kHeartbeat:
        l.OnHeartbeat(at);
        break;
      case Ev::kExit: {
        ExitVerdict v = l.OnExit(at);
        a = v.actions;
        expected = v.expected;
        break;
      }
      case Ev::kTimer:
        a = l.OnTimer(at);
        break;
    }
    EXPECT_EQ(ProcStateName(l.state()), std::string(ProcStateName(row.to)));
    EXPECT_EQ(a, row.actions);
    if (row.deadline == kNone) {
      EXPECT_EQ(l.NextDeadline(), 0);
    } else {
      EXPECT_EQ(l.NextDeadline(), at + row.deadline);
    }
    if (row.expected_exit) {
      EXPECT_EQ(expected, row.expected_exit);
    }
    // A deadline that is due must have something to do, or the loop would spin on it.
    if (l.NextDeadline() > 0 && l.NextDeadline() <= at) {
      ChildLifecycle copy = l;
      EXPECT_NE(copy.OnTimer(at), kNoAction);
    }
  }
}

TEST(ChildLifecycleTest, AStopsKillTimerEndsWithTheProcess) {
  ChildLifecycle l = In(ProcState::kStopping);  // SIGKILL due at kT0 + 40 s
  ExitVerdict v = l.OnExit(kT0 + kS);
  EXPECT_TRUE(v.expected);
  EXPECT_EQ(l.NextDeadline(), 0);  // idle: nothing to wake up for
  EXPECT_TRUE(l.OnStart(kT0 + 15 * kS).spawn);
  l.OnSpawned(kT0 + 15 * kS);
  l.OnReady(kT0 + 15 * kS);
  for (std::int64_t t = kT0 + 15 * kS; t <= kT0 + 70 * kS; t += kS) {
    l.OnHeartbeat(t);
    EXPECT_EQ(l.OnTimer(t), kNoAction) << "at +" << (t - kT0) / kS << " s";
  }
  EXPECT_EQ(l.state(), ProcState::kRunning);
}

TEST(ChildLifecycleTest, AHungProcessesKillTimerDoesNotReachItsReplacement) {
  ChildLifecycle l = In(ProcState::kRunning);
  std::int64_t hang = kT0 + 60 * kS;
  EXPECT_EQ(l.OnTimer(hang), kTerm);
  ExitVerdict v = l.OnExit(hang + kS);  // went at the SIGTERM
  EXPECT_FALSE(v.expected);             // a hang is a failure: the jobs' attempts count
  EXPECT_TRUE(v.restart_scheduled);
  std::int64_t restart = l.restart_at_us();
  EXPECT_EQ(l.OnTimer(restart), kSpawn);
  l.OnSpawned(restart);
  l.OnReady(restart);
  for (std::int64_t t = restart; t <= hang + 30 * kS; t += kS / 2) {
    l.OnHeartbeat(t);
    EXPECT_EQ(l.OnTimer(t), kNoAction);
  }
}

TEST(ChildLifecycleTest, AStartWhileStoppingIsCarriedOutAtTheExit) {
  ChildLifecycle l = In(ProcState::kStopping);
  EXPECT_EQ(l.OnStart(kT), kNoAction);
  EXPECT_TRUE(l.start_pending());
  ExitVerdict v = l.OnExit(kT + kS);
  EXPECT_TRUE(v.expected);
  EXPECT_TRUE(v.actions.spawn);
  EXPECT_FALSE(l.start_pending());
}

TEST(ChildLifecycleTest, AStopAfterAStartWhileStoppingWins) {
  ChildLifecycle l = In(ProcState::kStopping);
  (void)l.OnStart(kT);
  (void)l.OnStop(kT);
  ExitVerdict v = l.OnExit(kT + kS);
  EXPECT_FALSE(v.actions.spawn);
  EXPECT_EQ(l.state(), ProcState::kStopped);
}

TEST(ChildLifecycleTest, CoolOffGrowsWithRapidFailuresAndResetsAfterStartsecs) {
  ChildLifecycle l(&kPolicy);
  std::int64_t t = kT0;
  (void)l.OnStart(t);
  for (int failure = 1; failure <= 3; ++failure) {
    l.OnSpawned(t);
    (void)l.OnExit(t + kS);  // rapid: under startsecs
    EXPECT_EQ(l.rapid_failures(), failure);
    EXPECT_EQ(l.restart_at_us() - (t + kS), kS << (failure - 1));
    t = l.restart_at_us();
  }
  l.OnSpawned(t);
  (void)l.OnExit(t + 11 * kS);  // stayed up longer than startsecs
  EXPECT_EQ(l.rapid_failures(), 1);
  EXPECT_EQ(l.restart_at_us() - (t + 11 * kS), kS);
}

TEST(ChildLifecycleTest, GivesUpAfterStartretriesRapidFailuresAndAStartTriesAgain) {
  ChildLifecycle l = In(ProcState::kFatal);
  EXPECT_EQ(l.NextDeadline(), 0);
  EXPECT_TRUE(l.OnStart(kT).spawn);
  EXPECT_EQ(l.rapid_failures(), 0);
  l.OnSpawned(kT);
  (void)l.OnExit(kT + kS);
  EXPECT_EQ(l.state(), ProcState::kBackoff);  // a fresh run of tries
}

TEST(ChildLifecycleTest, ARetiredProcessIsNeverRestarted) {
  ChildLifecycle l = In(ProcState::kRunning);
  EXPECT_EQ(l.OnRetire(kT), kTerm);
  EXPECT_EQ(l.OnStart(kT), kNoAction);
  ExitVerdict v = l.OnExit(kT + kS);
  EXPECT_TRUE(v.expected);
  EXPECT_FALSE(v.actions.spawn);
  EXPECT_EQ(l.state(), ProcState::kExited);
}

}  // namespace
}  // namespace drover
