// Supervisor: droverd's main object (supervisor.h runs it). Its event loop and start-up are in
// supervisor.cc, the life of its processes in supervisor_children.cc, control requests and
// reloads in supervisor_control.cc. Single-threaded; lives in the droverd process only.
#ifndef DROVER_SUPERVISOR_SUPERVISOR_INTERNAL_H_
#define DROVER_SUPERVISOR_SUPERVISOR_INTERNAL_H_

#include <sys/types.h>

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "common/config.h"
#include "common/status.h"
#include "common/timer_set.h"
#include "common/unique_fd.h"
#include "jobs/event_gate.h"
#include "jobs/handler.h"
#include "jobs/report_line.h"
#include "jobs/store/open_job_store.h"
#include "supervisor/child.h"
#include "supervisor/control_server.h"
#include "supervisor/credential_checker.h"
#include "supervisor/http/dashboard.h"
#include "supervisor/http/event_hub.h"
#include "supervisor/http/metrics.h"
#include "supervisor/http/store_view.h"
#include "supervisor/http_auth.h"
#include "supervisor/http_request.h"
#include "supervisor/supervisord_api.h"

namespace drover {

class Supervisor {
 public:
  Supervisor(Config config, const HandlerRegistry& handlers)
      : config_(std::move(config)), handlers_(handlers), rng_(std::random_device{}()) {
    UpdatePolicy();
  }

  int Run();

 private:
  // --- start-up ---

  Status Start();
  Result<std::unique_ptr<JobStore>> OpenStore() { return OpenJobStore(StoreConfigFor(config_.supervisor)); }
  // This droverd as the nodes table lists it (PostgreSQL).
  NodeInfo ThisNode() const;

  // The database holds payloads (often secrets): it is created 0600, or 0660 for socket_group
  // (whose members use droverctl's job verbs on it) whatever the umask; SQLite gives its -wal and
  // -shm files the same mode and owner. Existing files wider than that are reported.
  Status PrepareDatabaseFiles();
  Status LockDatabase();
  Status WritePidfile();
  void AddFd(int fd);
  // fork() while droverd's one other thread (the credential checker) is idle: the child runs on
  // without exec and must inherit no lock that thread held.
  pid_t ForkQuietly();

  // The lifecycle's timings, from the configuration (again after each reload).
  void UpdatePolicy();
  std::unique_ptr<Child> MakeChild(const std::string& pool, int index);

  // Descriptors held back for restarting children and re-queueing their jobs when the process has
  // run out (EMFILE): released just for that, taken again afterwards.
  void ReleaseFdReserve();
  void RefillFdReserve();

  // Carries out what the lifecycle asked for.
  void Act(Child& c, LifecycleActions a);
  void BuildChildren();

  // --- forking ---

  // Starts `c`: through the spare when one is idle, else by a fork of its own.
  void Spawn(Child& c);
  void Started(Child& c, pid_t pid, UniqueFd pipe);
  void SpawnFailed(Child& c);

  // --- the spare (spare.h) ---

  bool WantSpare() const { return config_.supervisor.spare && !spare_ && !shutting_down_; }

  bool SpareIdle() const { return spare_ && spare_->alive() && spare_->life.state() == ProcState::kSpare; }

  void StartSpare();

  // Turns the idle spare into `c`; false when there is none or it cannot be told.
  bool HandOver(Child& c);

  // After a reload or at shutdown: the spare holds the old configuration. Closing its command
  // pipe makes it exit; SIGKILL if it has not within 5 s.
  void RetireSpare();
  [[noreturn]] void SpareMain(int report_fd, int command_fd, pid_t parent);
  [[noreturn]] void ChildMain(const Child& c, int report_fd, pid_t parent);

  // Puts this child, and so the jobs it will start, into a cgroup of its own (jobs/job_cgroup.h).
  void JoinOwnCgroup();

  // This child's database connection; exits (logged) when it cannot be opened.
  std::unique_ptr<JobStore> OpenChildStore(const std::string& who);

  // The child's own part of a start; `store` is the spare's open connection, or null.
  // `in_cgroup`: the spare joined its cgroup already.
  [[noreturn]] void RunChild(const Child& c, int report_fd, std::unique_ptr<JobStore> store, bool in_cgroup,
                             pid_t parent);
  void LogRestartPlan(const Child& c);

  // --- reaping and recovery ---

  void Reap();
  void KillOrphans();
  void OnExit(Child& c, int st);

  // Re-queues a worker's jobs through the idle spare, or here when there is none.
  void RecoverJobs(const RecoverRequest& r);
  void RecoverJobsHere(const RecoverRequest& r);
  void LogRecovered(const std::string& worker_id, size_t n);

  // A spare's (or the process it became) answer to a recover command.
  void OnRecoverReply(Child& c, const Report& reply);

  // --- the loop ---

  bool NoneAlive() const;

  // The first live or waiting child (current or retiring) for which `match` holds.
  template <typename Pred>
  Child* Find(Pred match) {
    for (auto* list : {&children_, &retiring_}) {
      for (auto& c : *list) {
        if (match(*c)) return c.get();
      }
    }
    return spare_ && match(*spare_) ? spare_.get() : nullptr;
  }
  Child* FindByPid(pid_t pid);
  Child* FindByPipe(int fd);
  void Wait(int timeout_ms);

  // The earliest deadline of a process's lifecycle (its own state machine keeps them), or none.
  std::int64_t NextLifecycleDeadline() const;
  void RunTimers(std::int64_t now);
  void OnSignal();
  void OnReport(Child& c);

  // Starts a fresh process in `c`'s slot now and lets the old one finish its jobs.
  void Replace(Child& c, const std::string& why);

  void Shutdown();
  void ForceStop();

  // --- reload ---

  struct Diff {
    std::vector<std::string> added, changed, removed;
    std::vector<std::string> resized;           // pools with another worker count, and nothing else new
    std::vector<std::string> restart_required;  // keys that take effect only when droverd restarts
    bool empty() const {
      return added.empty() && changed.empty() && removed.empty() && resized.empty() &&
             restart_required.empty();
    }
  };
  Diff Compare(const Config& next) const;
  Result<Config> Reread();
  // Applies the configuration file. The fresh processes of the groups in `hold` ("pool:P",
  // "scheduler") are left stopped.
  Result<Diff> Reload(bool from_signal, const std::set<std::string>& hold = {});

  // --- control requests ---

  nlohmann::json ProcessJson(const Child& c) const;

  // Children named by `names`: exact names, "all", "POOL:*" / "worker:POOL:*" / "pool:POOL".
  Result<std::vector<Child*>> Select(const std::vector<std::string>& names);
  static nlohmann::json DiffJson(const Diff& d);

  // The socket's `enqueue` (enqueue_group's one verb): args are TYPE, PAYLOAD and optional
  // "queue=Q", "priority=N", "delay_ms=N", "expires_at_ms=T", "max_attempts=N", "unique_key=K",
  // "resource=R" (T: milliseconds since the epoch). Only configured job types; the store checks the payload.
  // The connection is opened for the request only.
  Result<EnqueueResult> EnqueueForPeer(const std::vector<std::string>& args);

  // True when `pid` belongs to a running command job: its session (a job leads its own), the parent
  // of that session's leader, or its cgroup says so.
  bool InJobSession(pid_t pid);

  // start, stop or restart of one process; returns what happened, for the operator.
  std::string ProcessVerb(Child& c, const std::string& cmd);
  std::string Dispatch(const std::string& line, const ControlServer::Peer& peer);
  static int SignalNumber(std::string s);

  // args: [NAME or "" for all, N lines]
  std::string Tail(const std::vector<std::string>& args);

  // --- supervisord's XML-RPC API (supervisor_rpc.cc) ---

  // Answers an HTTP request (POST /RPC2, the dashboard, /metrics, /events) now, or registers it
  // to be answered later: by PollRpcs, a store reading, or once its credentials are checked.
  std::optional<std::string> OnHttp(const HttpRequest& r, const ControlServer::Peer& peer,
                                    ControlServer::ClientRef client);
  // The same once the [http] listener's credentials are known (`authenticated`).
  std::optional<std::string> ServeHttp(const HttpRequest& r, const ControlServer::Peer& peer,
                                       ControlServer::ClientRef client, bool authenticated);
  // Answers the requests whose credentials were checked off the loop.
  void OnCredentialsChecked();
  RpcReply Call(const std::string& method, const nlohmann::json& params);
  struct RpcMethod {
    const char* signature;  // ParamsFit's
    RpcReply (Supervisor::*fn)(const nlohmann::json&);
    bool changes = false;  // changes state: needs credentials on the [http] listener
  };
  // True when the call (or one of a multicall's calls) changes state.
  static bool ChangesState(const std::string& method, const nlohmann::json& params);
  // The methods by name; system.multicall's calls are checked one by one.
  static const std::map<std::string, RpcMethod>& RpcMethods();
  // Answers the waiting calls whose answer is known, and those past their deadline; sends what
  // the followed logs gained.
  void PollRpcs();
  // --- watching: /metrics, /events, the dashboard (supervisor_web.cc) ---

  // Before the first fork: metrics, the event hub, the dashboard's form token.
  void StartWatching();
  std::set<std::string> HandlerTypes() const;
  void PublishProcessEvent(const Child& c, std::string_view event,
                           nlohmann::json fields = nlohmann::json::object());
  // A child's tally, event or missed-schedule report.
  void OnWatchReport(const Report& r);
  // Every HTTP request that is not XML-RPC or a log: metrics, events, pages, assets, actions.
  std::optional<std::string> OnWeb(const HttpRequest& r, ControlServer::ClientRef client, bool may_change);
  std::string WebAction(const HttpRequest& r, const std::string& path, bool may_change);
  std::string Scrape(const StoreView* view);
  // Calls `answer` with the queue and schedule figures (null when they cannot be read) and
  // returns its response: now, when the last ones read are fresh enough (supervisor_web.cc) or a
  // reading is under way; else once a fresh reading comes (nullopt: the response follows).
  using ViewAnswer = std::function<std::string(const StoreView*)>;
  std::optional<std::string> WithStoreView(ControlServer::ClientRef client, ViewAnswer answer);
  // Starts a child that reads the figures (store_view.h), unless one runs already.
  void RefreshStoreView();
  // A reader still at it after this is killed (a locked or broken database); its waiters get 503.
  static constexpr std::int64_t kStoreViewTimeoutUs = 60'000'000;
  void OnStoreViewData();
  void FinishStoreView(const StoreView* view);
  std::vector<ProcessRow> ProcessRows(bool draining = true);
  // While anyone follows the events: "enqueued" for the jobs added since the last look, every
  // kNewJobsPollUs (jobs come from droverctl, programs and plain SQL alike, so the table tells).
  void PollNewJobs();
  void MarkNewJobsStart();  // new_jobs_after_ = the newest job id now (left at -1 if unreadable)
  static constexpr std::int64_t kNewJobsPollUs = 200'000;
  std::int64_t new_jobs_after_ = -1;  // the last job id looked at; -1: not yet
  std::int64_t new_jobs_next_us_ = 0;

  // GET /logtail/NAME/stdout (supervisorctl tail -f): the end of the process's log, then its new
  // lines as they come, as one chunked response.
  std::optional<std::string> FollowLog(const std::string& target, ControlServer::ClientRef client);
  void PollFollowers();
  // A process or a group named as supervisorctl names them (see supervisor_rpc.cc).
  struct RpcTarget {
    std::string group;
    Child* child = nullptr;  // null: the whole group
  };
  std::optional<RpcTarget> Resolve(const std::string& spec);
  std::vector<Child*> GroupChildren(const std::string& group);
  std::vector<Child*> AllChildren();
  // Workers a reload replaced, still finishing their jobs (DRAINING), listed after the others
  // under their name and pid ("worker:default:0@4242"), since their successor has the name.
  std::vector<const Child*> DrainingChildren() const;
  static std::string ListedName(const Child& c);
  Child* CurrentChild(const std::string& name);
  nlohmann::json ProcessInfo(const Child& c) const;
  RpcReply StartOne(Child& c, bool wait);
  RpcReply StopOne(Child& c, bool wait);
  RpcOutcome SignalOne(Child& c, int sig);
  // One result per process of `children` for which `pick` holds, each from `op`.
  RpcReply ForEach(const std::vector<Child*>& children, bool (*pick)(ProcState),
                   const std::function<RpcReply(Child&)>& op);
  RpcReply Multicall(const nlohmann::json& calls);
  // A process's own lines of the log file (of its last 8 MiB); NO_FILE without a log file.
  Result<std::string> ProcessLog(const std::string& name) const;
  // The log of the process params[0] names, handed to `use`; BAD_NAME, NO_FILE or FAILED else.
  RpcOutcome WithProcessLog(const nlohmann::json& params,
                            const std::function<RpcOutcome(const std::string& log)>& use);
  // The diff's entries as supervisorctl's group names ("pool:P" is P).
  static std::vector<std::string> GroupNames(const std::vector<std::string>& keys);
  // Runs Reload for addProcessGroup/removeProcessGroup and remembers what it applied.
  RpcOutcome ReloadForGroups(const std::set<std::string>& hold);

  RpcReply RpcVersion(const nlohmann::json& p);
  RpcReply RpcSupervisorVersion(const nlohmann::json& p);
  RpcReply RpcIdentification(const nlohmann::json& p);
  RpcReply RpcState(const nlohmann::json& p);
  RpcReply RpcPid(const nlohmann::json& p);
  RpcReply RpcReadLog(const nlohmann::json& p);
  RpcReply RpcShutdown(const nlohmann::json& p);
  RpcReply RpcRestart(const nlohmann::json& p);
  RpcReply RpcReloadConfig(const nlohmann::json& p);
  RpcReply RpcAddGroup(const nlohmann::json& p);
  RpcReply RpcRemoveGroup(const nlohmann::json& p);
  RpcReply RpcProcessInfo(const nlohmann::json& p);
  RpcReply RpcAllProcessInfo(const nlohmann::json& p);
  RpcReply RpcAllConfigInfo(const nlohmann::json& p);
  RpcReply RpcStart(const nlohmann::json& p);
  RpcReply RpcStartGroup(const nlohmann::json& p);
  RpcReply RpcStartAll(const nlohmann::json& p);
  RpcReply RpcStop(const nlohmann::json& p);
  RpcReply RpcStopGroup(const nlohmann::json& p);
  RpcReply RpcStopAll(const nlohmann::json& p);
  RpcReply RpcSignal(const nlohmann::json& p);
  RpcReply RpcSignalGroup(const nlohmann::json& p);
  RpcReply RpcSignalAll(const nlohmann::json& p);
  RpcReply RpcReadStdout(const nlohmann::json& p);
  RpcReply RpcReadStderr(const nlohmann::json& p);
  RpcReply RpcTailStdout(const nlohmann::json& p);
  RpcReply RpcClearLog(const nlohmann::json& p);
  RpcReply RpcClearAllLogs(const nlohmann::json& p);
  RpcReply RpcListMethods(const nlohmann::json& p);
  RpcReply RpcMulticall(const nlohmann::json& p);

  struct PendingRpc {
    ControlServer::ClientRef client;
    RpcPoll poll;
    std::int64_t deadline_us = 0;
  };
  std::vector<PendingRpc> pending_rpcs_;
  // [http] auth, loaded at start and on reload, and the requests waiting for their check.
  std::unique_ptr<CredentialChecker> credentials_;
  struct PendingAuth {
    HttpRequest request;
    ControlServer::Peer peer;
    ControlServer::ClientRef client;
  };
  std::map<std::uint64_t, PendingAuth> pending_auth_;  // by ticket
  std::uint64_t next_auth_ticket_ = 0;
  EventGate event_gate_;  // mapped before the first fork: children see it open while anyone follows /events
  std::optional<Metrics> metrics_;
  std::optional<EventHub> events_;
  std::optional<StoreView> store_view_;  // the last figures read
  pid_t view_reader_ = 0;                // the child reading them now; 0: none
  UniqueFd view_pipe_;                   // its answer
  std::string view_text_;
  std::int64_t view_deadline_us_ = 0;  // killed when still reading then
  std::vector<std::pair<ControlServer::ClientRef, ViewAnswer>> view_waiters_;
  std::string csrf_token_;
  struct LogFollower {
    ControlServer::ClientRef client;
    std::string tag;          // what the process's lines hold: "[NAME "
    std::int64_t offset = 0;  // in the log file, read up to here
    std::string partial;      // a line not ended yet
  };
  std::vector<LogFollower> log_followers_;
  std::int64_t next_follow_us_ = 0;
  // Groups a reload run by addProcessGroup or removeProcessGroup already added or changed (to
  // start on addProcessGroup) or removed, since the last reloadConfig: supervisorctl's update
  // asks for them one group at a time, and drover's reload applies them all at once.
  std::set<std::string> rpc_applied_, rpc_removed_;
  Config config_;
  const HandlerRegistry& handlers_;
  std::mt19937_64 rng_;
  LifecyclePolicy policy_;  // from config_; every child's lifecycle points here
  UniqueFd lock_fd_, sig_fd_, epoll_;
  ControlServer control_;
  std::vector<std::unique_ptr<Child>> children_;
  std::vector<std::unique_ptr<Child>> retiring_;
  // Forked again this long after the spare was used, so the fork does not delay the new
  // process's start (the supervisor's own copy-on-write faults come after a fork).
  static constexpr std::int64_t kSpareDelayUs = 50'000;
  static constexpr std::int64_t kSweepIntervalUs = 1'000'000;
  // The supervisor's own deadlines; each process's lifecycle keeps its own (NextLifecycleDeadline).
  enum TimerKind { kSpare, kForceStop, kWatchdog, kSweep };
  std::unique_ptr<Child> spare_;  // null: none (yet); in BACKOFF after a crash
  bool shutting_down_ = false;
  bool ready_sent_ = false;
  std::string job_cgroups_;  // where workers put job cgroups; empty: none (jobs/job_cgroup.h)
  UniqueFd fd_reserve_[8];
  std::int64_t watchdog_us_ = 0;  // systemd's watchdog interval; 0: none
  TimerSet timers_;
};
}  // namespace drover

#endif  // DROVER_SUPERVISOR_SUPERVISOR_INTERNAL_H_
