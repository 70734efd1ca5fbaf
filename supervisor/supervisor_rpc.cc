// Supervisor (supervisor_internal.h): supervisord's XML-RPC API on the control socket, so that
// supervisorctl and the tools built on that API drive droverd unchanged.
//
// Names: a group is a pool, and the scheduler is a group of its own; a process keeps droverd's
// name ("worker:default:0" in group "default", which supervisorctl shows as
// "default:worker:default:0"). A call names a process by droverd's name or as GROUP:NAME, and a
// group as GROUP:* (or worker:POOL:*).
//
// Calls that wait (start and stop with wait=true, as supervisorctl sends them) are answered by
// PollRpcs once the processes got there.

#include <signal.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <algorithm>
#include <map>

#include "common/time_util.h"
#include "supervisor/http/url.h"
#include "supervisor/supervisor_internal.h"
#include "supervisor/supervisor_rpc_internal.h"
#include "supervisor/xmlrpc_codec.h"

namespace drover {

using json = nlohmann::json;
using rpc::Fault;
using rpc::GroupOf;
using rpc::Value;

namespace {

constexpr int kXmlRpcParseError = -32700;  // the XML-RPC interoperability code for bad XML

std::string Encode(const RpcOutcome& o) {
  return o.fault ? XmlRpcFaultBody(o.code, o.message) : XmlRpcResponseBody(o.value);
}

bool WaitParam(const json& p, size_t i) { return p.size() <= i || p[i].get<bool>(); }

// A reply that waits for every one of `replies`; `combine` turns their outcomes into the answer.
RpcReply All(std::vector<RpcReply> replies, std::function<RpcOutcome(std::vector<RpcOutcome>)> combine) {
  auto waiting = std::any_of(replies.begin(), replies.end(), [](const RpcReply& r) { return !r.now; });
  if (!waiting) {
    std::vector<RpcOutcome> done;
    for (RpcReply& r : replies) done.push_back(std::move(*r.now));
    return combine(std::move(done));
  }
  auto state = std::make_shared<std::vector<RpcReply>>(std::move(replies));
  return RpcReply(RpcPoll([state, combine]() -> std::optional<RpcOutcome> {
    bool all = true;
    for (RpcReply& r : *state) {
      if (!r.now) r.now = r.later();
      all = all && r.now.has_value();
    }
    if (!all) return std::nullopt;
    std::vector<RpcOutcome> done;
    for (RpcReply& r : *state) done.push_back(std::move(*r.now));
    return combine(std::move(done));
  }));
}

// Groups changed either way: supervisorctl's update knows no resize.
std::vector<std::string> Concat(std::vector<std::string> a, const std::vector<std::string>& b) {
  a.insert(a.end(), b.begin(), b.end());
  return a;
}
}  // namespace

const std::map<std::string, Supervisor::RpcMethod>& Supervisor::RpcMethods() {
  using S = Supervisor;
  static const std::map<std::string, RpcMethod> methods = {
      {"supervisor.getAPIVersion", {"", &S::RpcVersion}},
      {"supervisor.getVersion", {"", &S::RpcVersion}},
      {"supervisor.getSupervisorVersion", {"", &S::RpcSupervisorVersion}},
      {"supervisor.getIdentification", {"", &S::RpcIdentification}},
      {"supervisor.getState", {"", &S::RpcState}},
      {"supervisor.getPID", {"", &S::RpcPid}},
      {"supervisor.readLog", {"ii", &S::RpcReadLog}},
      {"supervisor.readMainLog", {"ii", &S::RpcReadLog}},
      {"supervisor.shutdown", {"", &S::RpcShutdown, true}},
      {"supervisor.restart", {"", &S::RpcRestart, true}},
      {"supervisor.reloadConfig", {"", &S::RpcReloadConfig, true}},  // rereads: what add/remove apply
      {"supervisor.addProcessGroup", {"s", &S::RpcAddGroup, true}},
      {"supervisor.removeProcessGroup", {"s", &S::RpcRemoveGroup, true}},
      {"supervisor.getProcessInfo", {"s", &S::RpcProcessInfo}},
      {"supervisor.getAllProcessInfo", {"", &S::RpcAllProcessInfo}},
      {"supervisor.getAllConfigInfo", {"", &S::RpcAllConfigInfo}},
      {"supervisor.startProcess", {"s|b", &S::RpcStart, true}},
      {"supervisor.startProcessGroup", {"s|b", &S::RpcStartGroup, true}},
      {"supervisor.startAllProcesses", {"|b", &S::RpcStartAll, true}},
      {"supervisor.stopProcess", {"s|b", &S::RpcStop, true}},
      {"supervisor.stopProcessGroup", {"s|b", &S::RpcStopGroup, true}},
      {"supervisor.stopAllProcesses", {"|b", &S::RpcStopAll, true}},
      {"supervisor.signalProcess", {"sx", &S::RpcSignal, true}},
      {"supervisor.signalProcessGroup", {"sx", &S::RpcSignalGroup, true}},
      {"supervisor.signalAllProcesses", {"x", &S::RpcSignalAll, true}},
      {"supervisor.readProcessLog", {"sii", &S::RpcReadStdout}},
      {"supervisor.readProcessStdoutLog", {"sii", &S::RpcReadStdout}},
      {"supervisor.readProcessStderrLog", {"sii", &S::RpcReadStderr}},
      {"supervisor.tailProcessLog", {"sii", &S::RpcTailStdout}},
      {"supervisor.tailProcessStdoutLog", {"sii", &S::RpcTailStdout}},
      {"supervisor.tailProcessStderrLog", {"sii", &S::RpcReadStderr}},
      {"supervisor.clearLog", {"", &S::RpcClearLog, true}},
      {"supervisor.clearProcessLog", {"s", &S::RpcClearLog, true}},
      {"supervisor.clearProcessLogs", {"s", &S::RpcClearLog, true}},
      {"supervisor.clearAllProcessLogs", {"", &S::RpcClearAllLogs, true}},
      {"system.listMethods", {"", &S::RpcListMethods}},
      {"system.multicall", {"a", &S::RpcMulticall}},
  };
  return methods;
}

std::optional<std::string> Supervisor::OnHttp(const HttpRequest& r, const ControlServer::Peer& peer,
                                              ControlServer::ClientRef client) {
  // The [http] listener answers only requests that name it (a page whose name merely resolves to
  // this machine does not), before any credentials are looked at.
  if (peer.tcp && !HostAllowed(r.Header("host"), config_.http.hosts)) {
    return HttpResponse(421, "text/plain",
                        "this listener does not answer to that Host (add the name to [http] hosts)\n");
  }
  if (!peer.tcp || !credentials_ || !credentials_->configured() || r.Header("authorization").empty())
    return ServeHttp(r, peer, client, false);
  const std::uint64_t ticket = ++next_auth_ticket_;
  switch (credentials_->Check(r.Header("authorization"), peer.address, ticket, MonotonicUs())) {
    case CredentialChecker::Verdict::kGood:
      return ServeHttp(r, peer, client, true);
    case CredentialChecker::Verdict::kBad:
      return ServeHttp(r, peer, client, false);
    case CredentialChecker::Verdict::kRefused:
      return HttpResponse(429, "text/plain",
                          "too many failed credentials from this address; try again later\n",
                          "Retry-After: 60\r\n");
    case CredentialChecker::Verdict::kPending:
      break;
  }
  pending_auth_.emplace(ticket, PendingAuth{r, peer, client});
  return std::nullopt;
}

void Supervisor::OnCredentialsChecked() {
  for (const CredentialChecker::Outcome& o : credentials_->Done(MonotonicUs())) {
    auto it = pending_auth_.find(o.ticket);
    if (it == pending_auth_.end()) continue;
    PendingAuth p = std::move(it->second);
    pending_auth_.erase(it);
    if (!control_.Awaiting(p.client)) continue;  // gone meanwhile
    if (std::optional<std::string> answer = ServeHttp(p.request, p.peer, p.client, o.good))
      control_.Respond(p.client, *answer);
  }
}

std::optional<std::string> Supervisor::ServeHttp(const HttpRequest& r, const ControlServer::Peer& peer,
                                                 ControlServer::ClientRef client, bool authenticated) {
  if (!peer.tcp && InJobSession(peer.cred.pid)) {
    spdlog::warn("control: refused an XML-RPC request from pid {}, which runs inside a job", peer.cred.pid);
    return HttpResponse(403, "text/plain", "permission denied: a job may not control droverd\n");
  }
  if (peer.enqueue_only) {
    return HttpResponse(403, "text/plain", "permission denied: members of enqueue_group may only enqueue\n");
  }
  // The [http] listener: anyone who reaches the port may connect, so it serves only /metrics to
  // those without credentials: with [http] auth everything else needs them (and /metrics too
  // unless public_metrics); without auth there is nothing else. Changes need credentials and no
  // read_only.
  bool may_change = true;
  if (peer.tcp) {
    const bool auth = credentials_ && credentials_->configured();
    bool metrics = SplitTarget(r.target).first == "/metrics";
    if (!authenticated && !(metrics && (!auth || config_.http.public_metrics))) {
      if (!auth) {
        return HttpResponse(403, "text/plain",
                            "forbidden: without [http] auth this listener serves /metrics only\n");
      }
      return HttpResponse(401, "text/plain", "credentials needed ([http] auth)\n",
                          "WWW-Authenticate: Basic realm=\"drover\"\r\n");
    }
    may_change = authenticated && !config_.http.read_only;
  }
  if (r.target.rfind("/logtail/", 0) == 0 || r.target == "/mainlogtail") {
    if (r.method != "GET") return HttpResponse(405, "text/plain", "a log is followed with GET\n");
    return FollowLog(r.target, client);
  }
  if (r.target != "/RPC2") return OnWeb(r, client, may_change);
  if (r.method != "POST") return HttpResponse(405, "text/plain", "XML-RPC calls are POST requests\n");
  if (std::optional<HttpRefusal> refused = CrossSiteXmlRpc(r)) {
    spdlog::warn("xml-rpc: refused a request from {}: {}", peer.tcp ? "the [http] listener" : "the socket",
                 refused->why.substr(0, refused->why.size() - 1));
    return HttpResponse(refused->status, "text/plain", refused->why);
  }
  RpcReply reply = Fault(kFailed, "request body larger than 1 MiB");
  if (!r.body_too_large) {
    Result<XmlRpcCall> call = ParseXmlRpcCall(r.body);
    if (!call.ok()) {
      reply = RpcOutcome{true, kXmlRpcParseError, call.status().message(), nullptr};
    } else {
      if (!may_change && ChangesState(call->method, call->params)) {
        return HttpResponse(403, "text/plain",
                            config_.http.read_only ? "forbidden: the [http] listener is read_only\n"
                                                   : "forbidden: calls that change state need [http] auth\n");
      }
      spdlog::debug("xml-rpc: {} from {}", call->method,
                    peer.tcp ? "[http] listener" : "uid " + std::to_string(peer.cred.uid));
      try {
        reply = Call(call->method, call->params);
      } catch (const std::exception& e) {  // a bug; the caller hears of it, droverd goes on
        spdlog::error("xml-rpc: {} failed: {}", call->method, e.what());
        reply = Fault(kFailed, e.what());
      }
    }
  }
  if (reply.now) return HttpResponse(200, "text/xml", Encode(*reply.now));
  // Longer than any stop can take: the lifecycle SIGKILLs a process that outlives its grace.
  std::int64_t wait_us = std::max(policy_.stop_grace_us, policy_.hang_timeout_us) + 30'000'000;
  pending_rpcs_.push_back({client, std::move(reply.later), MonotonicUs() + wait_us});
  return std::nullopt;
}

bool Supervisor::ChangesState(const std::string& method, const json& params) {
  if (method == "system.multicall" && params.size() == 1 && params[0].is_array()) {
    for (const json& call : params[0]) {
      if (call.is_object() && call.contains("methodName") && call["methodName"].is_string() &&
          ChangesState(call["methodName"].get<std::string>(), json::array())) {
        return true;
      }
    }
    return false;
  }
  auto it = RpcMethods().find(method);
  return it != RpcMethods().end() && it->second.changes;
}

RpcReply Supervisor::Call(const std::string& method, const json& params) {
  auto it = RpcMethods().find(method);
  if (it == RpcMethods().end()) return Fault(kUnknownMethod, method);
  if (!ParamsFit(params, it->second.signature)) return Fault(kIncorrectParameters, method);
  return (this->*it->second.fn)(params);
}

void Supervisor::PollRpcs() {
  std::int64_t now = MonotonicUs();
  for (size_t i = 0; i < pending_rpcs_.size();) {
    PendingRpc& p = pending_rpcs_[i];
    std::optional<RpcOutcome> o = p.poll();
    if (!o && now > p.deadline_us) o = Fault(kFailed, "timed out waiting for the processes");
    if (!o) {
      ++i;
      continue;
    }
    control_.Respond(p.client, HttpResponse(200, "text/xml", Encode(*o)));
    pending_rpcs_.erase(pending_rpcs_.begin() + static_cast<std::ptrdiff_t>(i));
  }
  if (!log_followers_.empty() && now >= next_follow_us_) {
    next_follow_us_ = now + 250'000;
    PollFollowers();
  }
}

// --- names ---

Child* Supervisor::CurrentChild(const std::string& name) {
  for (auto& c : children_) {
    if (c->name == name) return c.get();
  }
  return nullptr;
}

std::vector<Child*> Supervisor::AllChildren() {
  std::vector<Child*> out;
  for (auto& c : children_) out.push_back(c.get());
  return out;
}

std::vector<Child*> Supervisor::GroupChildren(const std::string& group) {
  std::vector<Child*> out;
  for (auto& c : children_) {
    if (GroupOf(*c) == group) out.push_back(c.get());
  }
  return out;
}

std::optional<Supervisor::RpcTarget> Supervisor::Resolve(const std::string& spec) {
  if (Child* c = CurrentChild(spec)) return RpcTarget{GroupOf(*c), c};
  std::string group, name;
  if (spec.rfind("worker:", 0) == 0 && spec.size() > 9 && spec.compare(spec.size() - 2, 2, ":*") == 0) {
    group = spec.substr(7, spec.size() - 9);  // worker:POOL:*
  } else if (size_t colon = spec.find(':'); colon != std::string::npos) {
    group = spec.substr(0, colon);
    name = spec.substr(colon + 1);
    if (name == "*") name.clear();
  } else {
    return std::nullopt;
  }
  std::vector<Child*> members = GroupChildren(group);
  if (members.empty()) return std::nullopt;
  if (name.empty()) return RpcTarget{group, nullptr};
  for (Child* c : members) {
    if (c->name == name) return RpcTarget{group, c};
  }
  return std::nullopt;
}

json Supervisor::ProcessInfo(const Child& c) const {
  ProcessFacts f;
  f.name = c.name;
  f.state = c.life.state();
  f.pid = c.pid;
  f.start_s = c.started_wall_ms / 1000;
  f.stop_s = c.stopped_wall_ms / 1000;
  f.now_s = NowMs() / 1000;
  if (f.state == ProcState::kBackoff || f.state == ProcState::kFatal) f.spawnerr = c.last_exit;
  const std::string& log = config_.supervisor.log_file;
  return {{"name", ListedName(c)},
          {"group", GroupOf(c)},
          {"start", f.start_s},
          {"stop", f.stop_s},
          {"now", f.now_s},
          {"state", SupervisordStateCode(f.state)},
          {"statename", ProcStateName(f.state)},
          {"spawnerr", f.spawnerr},
          {"exitstatus", c.exit_status},
          {"logfile", log},
          {"stdout_logfile", log},
          {"stderr_logfile", ""},
          {"pid", c.pid},
          {"description", ProcessDescription(f)}};
}

// --- the daemon ---

RpcReply Supervisor::RpcVersion(const json&) { return Value("3.0"); }  // the API version supervisorctl checks
RpcReply Supervisor::RpcSupervisorVersion(const json&) { return Value(DROVER_VERSION); }
RpcReply Supervisor::RpcIdentification(const json&) { return Value("drover"); }
RpcReply Supervisor::RpcPid(const json&) { return Value(getpid()); }

RpcReply Supervisor::RpcState(const json&) {
  // supervisord's daemon states: RUNNING 1, SHUTDOWN -1.
  return Value(shutting_down_ ? json{{"statecode", -1}, {"statename", "SHUTDOWN"}}
                              : json{{"statecode", 1}, {"statename", "RUNNING"}});
}

RpcReply Supervisor::RpcShutdown(const json&) {
  if (shutting_down_) return Fault(kShutdownState);
  spdlog::info("shutdown requested over XML-RPC");
  Shutdown();
  return Value(true);
}

RpcReply Supervisor::RpcRestart(const json&) {
  if (shutting_down_) return Fault(kShutdownState);
  Result<Diff> d = Reload(false);
  if (!d.ok()) return Fault(kCantReread, d.status().message());
  spdlog::info("restart requested over XML-RPC: replacing every process");
  for (Child* c : AllChildren()) Replace(*c, "restart requested");
  return Value(true);
}

// --- configuration ---

std::vector<std::string> Supervisor::GroupNames(const std::vector<std::string>& keys) {
  std::vector<std::string> out;
  for (const std::string& k : keys) out.push_back(k.rfind("pool:", 0) == 0 ? k.substr(5) : k);
  return out;
}

RpcReply Supervisor::RpcReloadConfig(const json&) {
  if (shutting_down_) return Fault(kShutdownState);
  Result<Config> next = Reread();
  if (!next.ok()) return Fault(kCantReread, next.status().message());
  Diff d = Compare(*next);
  rpc_applied_.clear();
  rpc_removed_.clear();
  return Value(json::array(
      {json::array({GroupNames(d.added), GroupNames(Concat(d.changed, d.resized)), GroupNames(d.removed)})}));
}

RpcOutcome Supervisor::ReloadForGroups(const std::set<std::string>& hold) {
  std::set<std::string> keys;
  for (const std::string& g : hold) keys.insert(g == "scheduler" ? g : "pool:" + g);
  Result<Diff> d = Reload(false, keys);
  if (!d.ok()) return Fault(kCantReread, d.status().message());
  for (const std::string& g : GroupNames(d->added)) rpc_applied_.insert(g);
  for (const std::string& g : GroupNames(Concat(d->changed, d->resized))) rpc_applied_.insert(g);
  for (const std::string& g : GroupNames(d->removed)) rpc_removed_.insert(g);
  return Value(true);
}

RpcReply Supervisor::RpcAddGroup(const json& p) {
  if (shutting_down_) return Fault(kShutdownState);
  const std::string group = p[0].get<std::string>();
  auto start_stopped = [&] {
    for (Child* c : GroupChildren(group)) {
      if (InStoppedStates(c->life.state())) Act(*c, c->life.OnStart(MonotonicUs()));
    }
    return Value(true);
  };
  if (rpc_applied_.erase(group)) return start_stopped();
  Result<Config> next = Reread();
  if (!next.ok()) return Fault(kCantReread, next.status().message());
  if (group != "scheduler" && !next->pools.count(group)) return Fault(kBadName, group);
  Diff d = Compare(*next);
  std::vector<std::string> touched = GroupNames(d.added);
  for (const std::string& g : GroupNames(d.changed)) touched.push_back(g);
  if (std::find(touched.begin(), touched.end(), group) == touched.end()) {
    std::vector<Child*> members = GroupChildren(group);
    if (std::all_of(members.begin(), members.end(),
                    [](Child* c) { return InRunningStates(c->life.state()); })) {
      return Fault(kAlreadyAdded, group);
    }
    return start_stopped();
  }
  RpcOutcome o = ReloadForGroups({});
  if (o.fault) return o;
  rpc_applied_.erase(group);
  return start_stopped();
}

RpcReply Supervisor::RpcRemoveGroup(const json& p) {
  if (shutting_down_) return Fault(kShutdownState);
  const std::string group = p[0].get<std::string>();
  if (rpc_removed_.erase(group)) return Value(true);
  std::vector<Child*> members = GroupChildren(group);
  if (members.empty()) return Fault(kBadName, group);
  for (Child* c : members) {
    if (!InStoppedStates(c->life.state())) return Fault(kStillRunning, group);
  }
  RpcOutcome o = ReloadForGroups({group});
  rpc_removed_.erase(group);
  return o;
}

RpcReply Supervisor::RpcAllConfigInfo(const json&) {
  json out = json::array();
  for (auto& c : children_) {
    out.push_back({{"name", c->name},
                   {"group", GroupOf(*c)},
                   {"inuse", true},
                   {"autostart", true},
                   {"group_prio", 999},
                   {"process_prio", 999},
                   {"stdout_logfile", config_.supervisor.log_file},
                   {"stderr_logfile", ""}});
  }
  return Value(out);
}

// --- processes ---

RpcReply Supervisor::RpcProcessInfo(const json& p) {
  const std::string name = p[0].get<std::string>();
  std::optional<RpcTarget> t = Resolve(name);
  if (!t || !t->child) return Fault(kBadName, name);
  return Value(ProcessInfo(*t->child));
}

RpcReply Supervisor::RpcAllProcessInfo(const json&) {
  json out = json::array();
  for (auto& c : children_) out.push_back(ProcessInfo(*c));
  for (const Child* c : DrainingChildren()) out.push_back(ProcessInfo(*c));
  return Value(out);
}

RpcReply Supervisor::StartOne(Child& c, bool wait) {
  if (InRunningStates(c.life.state())) return Fault(kAlreadyStarted, c.name);
  spdlog::info("{}: start requested over XML-RPC", c.name);
  Act(c, c.life.OnStart(MonotonicUs()));
  if (!wait) return Value(true);
  return RpcReply(RpcPoll([this, name = c.name]() -> std::optional<RpcOutcome> {
    Child* c = CurrentChild(name);
    if (c == nullptr) return Fault(kBadName, name);
    ProcState s = c->life.state();
    if (s == ProcState::kRunning) return Value(true);
    if (s == ProcState::kStarting || c->life.start_pending()) return std::nullopt;
    return Fault(s == ProcState::kFatal ? kSpawnError : kAbnormalTermination, name);
  }));
}

RpcReply Supervisor::StopOne(Child& c, bool wait) {
  if (!InRunningStates(c.life.state())) return Fault(kNotRunning, c.name);
  spdlog::info("{}: stop requested over XML-RPC", c.name);
  Act(c, c.life.OnStop(MonotonicUs()));
  if (!wait) return Value(true);
  return RpcReply(RpcPoll([this, name = c.name]() -> std::optional<RpcOutcome> {
    Child* c = CurrentChild(name);
    if (c == nullptr || InStoppedStates(c->life.state())) return Value(true);
    return std::nullopt;
  }));
}

RpcOutcome Supervisor::SignalOne(Child& c, int sig) {
  if (!InRunningStates(c.life.state()) || !c.alive()) return Fault(kNotRunning, c.name);
  if (kill(c.pid, sig) != 0) return Fault(kFailed, c.name + ": " + strerror(errno));
  return Value(true);
}

RpcReply Supervisor::ForEach(const std::vector<Child*>& children, bool (*pick)(ProcState),
                             const std::function<RpcReply(Child&)>& op) {
  std::vector<std::pair<std::string, std::string>> names;  // group, name
  std::vector<RpcReply> replies;
  for (Child* c : children) {
    if (!pick(c->life.state())) continue;
    names.emplace_back(GroupOf(*c), c->name);
    replies.push_back(op(*c));
  }
  return All(std::move(replies), [names](std::vector<RpcOutcome> done) {
    json out = json::array();
    for (size_t i = 0; i < done.size(); ++i)
      out.push_back(RpcProcessResult(names[i].first, names[i].second, done[i]));
    return Value(out);
  });
}

namespace {
bool NotRunning(ProcState s) { return !InRunningStates(s); }
bool Running(ProcState s) { return InRunningStates(s); }
}  // namespace

RpcReply Supervisor::RpcStart(const json& p) {
  if (shutting_down_) return Fault(kShutdownState);
  const std::string name = p[0].get<std::string>();
  std::optional<RpcTarget> t = Resolve(name);
  if (!t) return Fault(kBadName, name);
  if (!t->child) return RpcStartGroup(json::array({t->group, WaitParam(p, 1)}));
  return StartOne(*t->child, WaitParam(p, 1));
}

RpcReply Supervisor::RpcStartGroup(const json& p) {
  if (shutting_down_) return Fault(kShutdownState);
  const std::string group = p[0].get<std::string>();
  std::vector<Child*> members = GroupChildren(group);
  if (members.empty()) return Fault(kBadName, group);
  bool wait = WaitParam(p, 1);
  return ForEach(members, NotRunning, [&](Child& c) { return StartOne(c, wait); });
}

RpcReply Supervisor::RpcStartAll(const json& p) {
  if (shutting_down_) return Fault(kShutdownState);
  bool wait = WaitParam(p, 0);
  return ForEach(AllChildren(), NotRunning, [&](Child& c) { return StartOne(c, wait); });
}

RpcReply Supervisor::RpcStop(const json& p) {
  if (shutting_down_) return Fault(kShutdownState);
  const std::string name = p[0].get<std::string>();
  std::optional<RpcTarget> t = Resolve(name);
  if (!t) return Fault(kBadName, name);
  if (!t->child) return RpcStopGroup(json::array({t->group, WaitParam(p, 1)}));
  return StopOne(*t->child, WaitParam(p, 1));
}

RpcReply Supervisor::RpcStopGroup(const json& p) {
  if (shutting_down_) return Fault(kShutdownState);
  const std::string group = p[0].get<std::string>();
  std::vector<Child*> members = GroupChildren(group);
  if (members.empty()) {
    // Removed by a reload that another group's update ran: its processes are stopping already.
    if (rpc_removed_.count(group)) return Value(json::array());
    return Fault(kBadName, group);
  }
  bool wait = WaitParam(p, 1);
  return ForEach(members, Running, [&](Child& c) { return StopOne(c, wait); });
}

RpcReply Supervisor::RpcStopAll(const json& p) {
  if (shutting_down_) return Fault(kShutdownState);
  bool wait = WaitParam(p, 0);
  return ForEach(AllChildren(), Running, [&](Child& c) { return StopOne(c, wait); });
}

namespace {
int RpcSignalNumber(const json& v, int (*by_name)(std::string)) {
  return by_name(v.is_string() ? v.get<std::string>() : std::to_string(v.get<std::int64_t>()));
}
}  // namespace

RpcReply Supervisor::RpcSignal(const json& p) {
  const std::string name = p[0].get<std::string>();
  int sig = RpcSignalNumber(p[1], &Supervisor::SignalNumber);
  if (sig <= 0 || sig >= NSIG) return Fault(kBadSignal, p[1].dump());
  std::optional<RpcTarget> t = Resolve(name);
  if (!t) return Fault(kBadName, name);
  if (!t->child) return RpcSignalGroup(json::array({t->group, p[1]}));
  return SignalOne(*t->child, sig);
}

RpcReply Supervisor::RpcSignalGroup(const json& p) {
  const std::string group = p[0].get<std::string>();
  int sig = RpcSignalNumber(p[1], &Supervisor::SignalNumber);
  if (sig <= 0 || sig >= NSIG) return Fault(kBadSignal, p[1].dump());
  std::vector<Child*> members = GroupChildren(group);
  if (members.empty()) return Fault(kBadName, group);
  return ForEach(members, Running, [&](Child& c) { return SignalOne(c, sig); });
}

RpcReply Supervisor::RpcSignalAll(const json& p) {
  int sig = RpcSignalNumber(p[0], &Supervisor::SignalNumber);
  if (sig <= 0 || sig >= NSIG) return Fault(kBadSignal, p[0].dump());
  return ForEach(AllChildren(), Running, [&](Child& c) { return SignalOne(c, sig); });
}

// --- system ---

RpcReply Supervisor::RpcListMethods(const json&) {
  json out = json::array();
  for (const auto& [name, m] : RpcMethods()) out.push_back(name);
  return Value(out);
}

namespace {

// A multicall is one request of a few hundred bytes that can ask for many answers (1,000 log
// reads of 1 MiB: gigabytes built on droverd's loop). Its calls and the size of its answer are
// capped; calls past the answer's cap are not made and each gets a fault saying so.
constexpr size_t kMaxMulticallCalls = 256;
constexpr size_t kMaxMulticallAnswerBytes = 4 << 20;

// About the bytes `v` adds to an answer: its strings' lengths and a few per value.
size_t AnswerBytes(const json& v) {
  if (v.is_string()) return v.get_ref<const std::string&>().size() + 16;
  size_t n = 16;
  if (v.is_structured())
    for (const auto& [key, item] : v.items()) n += key.size() + AnswerBytes(item);
  return n;
}

}  // namespace

RpcReply Supervisor::RpcMulticall(const json& p) {
  if (p[0].size() > kMaxMulticallCalls)
    return Fault(kIncorrectParameters, "system.multicall takes at most " +
                                           std::to_string(kMaxMulticallCalls) + " calls, not " +
                                           std::to_string(p[0].size()));
  // One call after the other, as supervisord makes them: a stop that waits has ended before the
  // start that follows it begins.
  struct Progress {
    json calls;
    size_t next = 0;
    RpcPoll waiting;
    json out = json::array();  // each result is [value] or a fault struct, in the order of the calls
    size_t bytes = 0;          // AnswerBytes of `out`
  };
  auto progress = std::make_shared<Progress>();
  progress->calls = p[0];
  auto add = [progress](const RpcOutcome& o) {
    progress->out.push_back(o.fault ? json{{"faultCode", o.code}, {"faultString", o.message}}
                                    : json::array({o.value}));
    progress->bytes += AnswerBytes(progress->out.back());
  };
  RpcPoll step = [this, progress, add]() -> std::optional<RpcOutcome> {
    while (true) {
      if (progress->waiting) {
        std::optional<RpcOutcome> o = progress->waiting();
        if (!o) return std::nullopt;
        progress->waiting = nullptr;
        add(*o);
      }
      if (progress->next == progress->calls.size()) return Value(progress->out);
      const json& call = progress->calls[progress->next++];
      if (!call.is_object() || !call.contains("methodName") || !call["methodName"].is_string()) {
        add(Fault(kIncorrectParameters, "each call is a struct with methodName and params"));
        continue;
      }
      std::string method = call["methodName"].get<std::string>();
      if (method == "system.multicall") {
        add(Fault(kIncorrectParameters, "system.multicall may not be nested"));
        continue;
      }
      if (progress->bytes > kMaxMulticallAnswerBytes) {
        add(Fault(kFailed, "not called: the multicall's answer is over " +
                               std::to_string(kMaxMulticallAnswerBytes >> 20) + " MiB"));
        continue;
      }
      RpcReply r = Call(method, call.contains("params") ? call["params"] : json::array());
      if (r.now) {
        add(*r.now);
      } else {
        progress->waiting = std::move(r.later);
      }
    }
  };
  if (std::optional<RpcOutcome> done = step()) return *done;
  return RpcReply(std::move(step));
}

}  // namespace drover
