// droverctl's verbs on single jobs: straight on the database through the job store.
#include "supervisor/ctl_job_verbs.h"

#include <unistd.h>

#include <fstream>
#include <iomanip>
#include <iostream>
#include <ostream>
#include <sstream>
#include <thread>

#include "common/json_util.h"
#include "common/time_util.h"
#include "jobs/job_json.h"
#include "supervisor/control_request.h"
#include "supervisor/control_server.h"
#include "supervisor/ctl_util.h"

namespace drover::ctl {
namespace {

Result<EnqueueResult> EnqueueDirect(CtlContext& ctx, const EnqueueRequest& r) {
  Result<std::unique_ptr<JobStore>> store = OpenStore(ctx);
  if (!store.ok()) return store.status();
  return (*store)->Enqueue(r);
}

// Through droverd (`enqueue_group` members have no access to the database itself).
Result<EnqueueResult> EnqueueViaSocket(CtlContext& ctx, const EnqueueRequest& r) {
  std::vector<std::string> args = {r.type, r.payload, "queue=" + r.queue,
                                   "priority=" + std::to_string(r.priority),
                                   "max_attempts=" + std::to_string(r.max_attempts)};
  if (r.run_at_ms)
    args.push_back("delay_ms=" + std::to_string(std::max<std::int64_t>(0, *r.run_at_ms - NowMs())));
  if (r.expires_at_ms) args.push_back("expires_at_ms=" + std::to_string(*r.expires_at_ms));
  if (r.unique_key) args.push_back("unique_key=" + *r.unique_key);
  if (r.resource) args.push_back("resource=" + *r.resource);
  Result<std::string> reply =
      ControlRequest(ctx.config.supervisor.socket, ControlRequestLine("enqueue", args), 30'000);
  if (!reply.ok()) return reply.status();
  Result<ControlAnswer> answer = ParseControlAnswer(*reply);
  if (!answer.ok()) return answer.status();
  if (!answer->ok) return Status::InvalidArgument(answer->message);
  const json& res = answer->result;
  if (!res.is_object() || !res.contains("id")) return Status::IoError("unreadable answer from droverd");
  return EnqueueResult{res["id"].get<std::int64_t>(),
                       ParseJobState(res.value("state", "queued")).value_or(JobState::kQueued),
                       res.value("duplicate", false), std::nullopt};
}

}  // namespace

int Enqueue(CtlContext& ctx, const std::string&, const Words& in) {
  std::optional<Args> a = Parse(ctx, "enqueue", in,
                                {"--queue", "--priority", "--delay", "--at", "--unique-key", "--resource",
                                 "--max-attempts", "--expires-in"},
                                {"--via-socket", "--strict"});
  if (!a) return kExitUsage;
  if (a->positional.empty() || a->positional.size() > 2)
    return Usage(ctx, "enqueue", "give a job type and at most one payload");
  EnqueueRequest r;
  r.type = a->positional[0];
  const JobTypeConfig* type = ctx.config.FindJob(r.type);
  if (!type) {
    std::string known;
    for (const auto& [name, _] : ctx.config.jobs) known += (known.empty() ? "" : ", ") + name;
    return Error(ctx, kExitError, "not_found",
                 "unknown job type \"" + r.type + "\" in " + ctx.config.path +
                     " (known: " + (known.empty() ? "none" : known) + ")");
  }
  r.queue = type->queue;
  r.priority = type->priority;
  r.max_attempts = type->max_attempts;
  if (a->positional.size() == 2) {
    const std::string& p = a->positional[1];
    if (p == "-" || p[0] == '@') {
      std::ifstream file;
      std::istream* src = &std::cin;
      if (p != "-") {
        file.open(p.substr(1), std::ios::binary);
        if (!file) return Fail(ctx, Status::FromErrno("read payload file " + p.substr(1)));
        src = &file;
      }
      std::stringstream ss;
      ss << src->rdbuf();
      r.payload = ss.str();
    } else {
      r.payload = p;
    }
  }
  if (r.payload.size() > kMaxPayloadBytes) {
    return Fail(ctx, Status::InvalidArgument("payload is " + std::to_string(r.payload.size()) +
                                             " bytes; the limit is " + std::to_string(kMaxPayloadBytes)));
  }
  Status valid = ValidateJson(r.payload, "payload");
  if (!valid.ok()) return Fail(ctx, valid);
  auto opt = [&](const char* k) -> const std::string* {
    auto it = a->options.find(k);
    return it == a->options.end() ? nullptr : &it->second;
  };
  try {
    if (auto* v = opt("--queue")) r.queue = *v;
    if (auto* v = opt("--priority")) r.priority = std::stoi(*v);
    if (auto* v = opt("--max-attempts")) r.max_attempts = std::stoi(*v);
  } catch (const std::exception&) {
    return Usage(ctx, "enqueue", "--priority and --max-attempts take integers");
  }
  if (opt("--delay") && opt("--at")) return Usage(ctx, "enqueue", "give --delay or --at, not both");
  if (auto* v = opt("--delay")) {
    Result<Duration> d = ParseDuration(*v);
    if (!d.ok()) return Usage(ctx, "enqueue", d.status().message());
    r.run_at_ms = NowMs() + d->count();
  }
  if (auto* v = opt("--at")) {
    Result<std::int64_t> t = ParseRfc3339(*v);
    if (!t.ok()) return Usage(ctx, "enqueue", t.status().message());
    r.run_at_ms = *t;
  }
  if (auto* v = opt("--expires-in")) {
    Result<Duration> d = ParseDuration(*v);
    if (!d.ok()) return Usage(ctx, "enqueue", d.status().message());
    r.expires_at_ms = r.run_at_ms.value_or(NowMs()) + d->count();
  }
  if (auto* v = opt("--unique-key")) {
    if (v->empty()) return Usage(ctx, "enqueue", "--unique-key must not be empty");
    if (v->rfind("schedule:", 0) == 0) {
      return Usage(ctx, "enqueue", "unique keys starting with \"schedule:\" belong to the scheduler's runs");
    }
    r.unique_key = *v;
  } else if (type->unique) {
    r.unique_key = UniqueKeyFor(r.type, r.payload);
  }
  if (auto* v = opt("--resource")) {
    if (v->empty()) return Usage(ctx, "enqueue", "--resource must not be empty");
    r.resource = *v;
  }
  if (PoolsServing(ctx.config, r.queue).empty()) {
    // Still enqueued: a pool may be added later. --strict refuses it.
    std::string why = "no pool serves queue \"" + r.queue + "\" in " + ctx.config.path;
    if (a->flags.count("--strict")) return Error(ctx, kExitError, "unserved_queue", why + " (--strict)");
    *ctx.err << "droverctl: warning: " << why << "; the job waits until a pool lists it in `queues`\n";
  }
  Result<EnqueueResult> e = a->flags.count("--via-socket") ? EnqueueViaSocket(ctx, r) : EnqueueDirect(ctx, r);
  if (!e.ok()) return Fail(ctx, e.status());
  if (ctx.json) {
    *ctx.out << json{{"id", e->id},
                     {"state", JobStateName(e->state)},
                     {"duplicate", e->duplicate},
                     {"type", r.type},
                     {"queue", r.queue}}
                    .dump()
             << "\n";
  } else {
    // stdout carries the id alone, duplicate or not: id=$(droverctl enqueue ...) works either way.
    *ctx.out << e->id << "\n";
    if (e->duplicate) {
      *ctx.err << "droverctl: job " << e->id << " is already " << JobStateName(e->state)
               << " with unique key " << *r.unique_key << "; not enqueued again\n";
    }
  }
  return kExitOk;
}

namespace {

void PrintTable(CtlContext& ctx, const std::vector<Job>& jobs) {
  *ctx.out << std::left << std::setw(8) << "ID" << std::setw(16) << "TYPE" << std::setw(12) << "QUEUE"
           << std::setw(11) << "STATE" << std::setw(9) << "ATTEMPT" << std::setw(16) << "ENQUEUED"
           << "INFO\n";
  for (const Job& j : jobs) {
    std::string info;
    if (j.state == JobState::kQueued && j.run_at_ms > NowMs()) info = "runs " + Ago(j.run_at_ms);
    if (j.state == JobState::kRunning) {
      info = (IsStuck(ctx.config, j, NowMs()) ? "STUCK " : "") + j.worker.value_or("");
      if (j.progress) info += " " + std::to_string(static_cast<int>(*j.progress * 100)) + "%";
    }
    if (j.state == JobState::kFailed || j.state == JobState::kCancelled)
      info = Shorten(j.last_error.value_or(""), 50);
    if (j.state == JobState::kSucceeded && j.result) info = Shorten(*j.result, 50);
    *ctx.out << std::setw(8) << j.id << std::setw(16) << Shorten(j.type, 15) << std::setw(12)
             << Shorten(j.queue, 11) << std::setw(11) << JobStateName(j.state) << std::setw(9)
             << (std::to_string(j.attempts) + "/" + std::to_string(j.max_attempts)) << std::setw(16)
             << Ago(j.enqueued_at_ms) << info << "\n";
  }
}

}  // namespace

int Jobs(CtlContext& ctx, const std::string&, const Words& in) {
  const std::set<std::string> lists = {"--state", "--type", "--queue", "--resource"};
  std::optional<Args> a =
      Parse(ctx, "jobs", in, {"--state", "--type", "--queue", "--resource", "--limit", "--before", "--after"},
            {}, lists);
  if (!a) return kExitUsage;
  if (!a->positional.empty()) return Usage(ctx, "jobs", "unexpected \"" + a->positional[0] + "\"");
  JobFilter f;
  for (const std::string& name : SplitList(a->options["--state"])) {
    std::optional<JobState> s = ParseJobState(name);
    if (!s)
      return Usage(ctx, "jobs",
                   "unknown state \"" + name + "\" (queued, running, succeeded, failed, cancelled, expired)");
    f.states.push_back(*s);
  }
  f.types = SplitList(a->options["--type"]);
  f.queues = SplitList(a->options["--queue"]);
  f.resources = SplitList(a->options["--resource"]);
  for (const auto& [option, bound] :
       {std::pair{"--before", &f.enqueued_before_ms}, {"--after", &f.enqueued_after_ms}}) {
    if (!a->options.count(option)) continue;
    Result<std::int64_t> at = TimeOrAgo(a->options[option]);
    if (!at.ok()) return Usage(ctx, "jobs", std::string(option) + ": " + at.status().message());
    *bound = *at;
  }
  if (a->options.count("--limit")) {
    std::optional<std::int64_t> n = ParseId(a->options["--limit"]);
    if (!n || *n == 0) return Usage(ctx, "jobs", "--limit takes a positive integer");
    f.limit = static_cast<int>(std::min<std::int64_t>(*n, 1'000'000));
  }
  Result<std::unique_ptr<JobStore>> store = OpenStore(ctx);
  if (!store.ok()) return Fail(ctx, store.status());
  Result<std::vector<Job>> jobs = (*store)->List(f);
  if (!jobs.ok()) return Fail(ctx, jobs.status());
  if (ctx.json) {
    json arr = json::array();
    for (const Job& j : *jobs) {
      json o = JobToJson(j);
      o["stuck"] = IsStuck(ctx.config, j, NowMs());
      arr.push_back(std::move(o));
    }
    *ctx.out << arr.dump(2) << "\n";
  } else {
    PrintTable(ctx, *jobs);
  }
  return kExitOk;
}

int Show(CtlContext& ctx, const std::string&, const Words& in) {
  std::optional<std::vector<std::int64_t>> ids = ParseIds(ctx, "show", in);
  if (!ids) return kExitUsage;
  if (ids->size() != 1) return Usage(ctx, "show", "give one job id");
  Result<std::unique_ptr<JobStore>> store = OpenStore(ctx);
  if (!store.ok()) return Fail(ctx, store.status());
  Result<Job> j = (*store)->Get(ids->front());
  if (!j.ok()) return Fail(ctx, j.status());
  json o = JobToJson(*j);
  const bool stuck = IsStuck(ctx.config, *j, NowMs());
  if (ctx.json) {
    o["stuck"] = stuck;
    *ctx.out << o.dump(2) << "\n";
    return kExitOk;
  }
  if (stuck) {
    *ctx.out << "STUCK: attempt " << j->attempts << " has run for "
             << FormatDuration(Duration((NowMs() - *j->started_at_ms) / 1000 * 1000))
             << " (stuck_after = " << FormatDuration(ctx.config.scheduler.stuck_after) << ")\n";
  }
  for (const char* k :
       {"id",       "type",   "queue",      "state",       "priority",         "attempts",    "max_attempts",
        "payload",  "run_at", "expires_at", "enqueued_at", "started_at",       "finished_at", "unique_key",
        "resource", "worker", "pid",        "progress",    "progress_message", "checkpoint",  "last_error"}) {
    if (o[k].is_null()) continue;
    *ctx.out << std::left << std::setw(18) << (std::string(k) + ":")
             << (o[k].is_string() ? o[k].get<std::string>() : o[k].dump()) << "\n";
  }
  if (j->result)
    *ctx.out << "result:\n" << *j->result << (j->result->empty() || j->result->back() == '\n' ? "" : "\n");
  if (!o["errors"].empty()) {
    *ctx.out << "errors:\n";
    for (const json& e : o["errors"]) {
      *ctx.out << "  attempt " << e.value("attempt", 0) << " at " << e.value("at", "") << " on "
               << e.value("worker", "?") << ": " << Shorten(e.value("error", ""), 200) << "\n";
    }
  }
  return kExitOk;
}

int Wait(CtlContext& ctx, const std::string&, const Words& in) {
  std::optional<Args> a = Parse(ctx, "wait", in, {"--timeout"}, {});
  if (!a) return kExitUsage;
  std::optional<std::vector<std::int64_t>> ids = ParseIds(ctx, "wait", a->positional);
  if (!ids) return kExitUsage;
  std::int64_t deadline = INT64_MAX;
  if (a->options.count("--timeout")) {
    Result<Duration> d = ParseDuration(a->options["--timeout"]);
    if (!d.ok()) return Usage(ctx, "wait", d.status().message());
    deadline = MonotonicUs() + Us(*d);
  }
  Result<std::unique_ptr<JobStore>> store = OpenStore(ctx);
  if (!store.ok()) return Fail(ctx, store.status());
  std::map<std::int64_t, Job> done;
  while (true) {
    for (std::int64_t id : *ids) {
      if (done.count(id)) continue;
      Result<Job> j = (*store)->Get(id);
      if (!j.ok()) return Fail(ctx, j.status());
      if (IsFinal(j->state)) done[id] = *j;
    }
    if (done.size() == ids->size()) break;
    if (MonotonicUs() >= deadline) {
      return Error(
          ctx, kExitNotRunning, "timeout",
          "timed out waiting; " + std::to_string(ids->size() - done.size()) + " job(s) not finished");
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  bool all_ok = true;
  json arr = json::array();
  for (std::int64_t id : *ids) {
    const Job& j = done[id];
    all_ok &= j.state == JobState::kSucceeded;
    arr.push_back(JobToJson(j));
    if (!ctx.json) {
      *ctx.out << id << ": " << JobStateName(j.state);
      if (j.state != JobState::kSucceeded && j.last_error) *ctx.out << ": " << Shorten(*j.last_error, 200);
      *ctx.out << "\n";
    }
  }
  if (ctx.json) *ctx.out << arr.dump(2) << "\n";
  return all_ok ? kExitOk : kExitError;
}

namespace {

// The running limits that hold back queued job `j`, each with the jobs that fill it.
std::vector<std::string> LimitsReached(CtlContext& ctx, JobStore& store, const Job& j) {
  std::vector<std::string> out;
  for (const RunningLimit& l : RunningLimitsFor(ctx.config)) {
    if (std::find(l.types.begin(), l.types.end(), j.type) == l.types.end()) continue;
    if (l.per_resource && !j.resource) continue;
    std::vector<std::int64_t> holders;
    for (const std::string& type : l.types) {
      JobFilter f;
      f.states = {JobState::kRunning};
      f.types = {type};
      if (l.per_resource) f.resources = {*j.resource};
      f.limit = 100'000;
      Result<std::vector<Job>> running = store.List(f);
      if (!running.ok()) continue;
      for (const Job& r : *running) holders.push_back(r.id);
    }
    if (static_cast<int>(holders.size()) < l.max_running) continue;
    std::sort(holders.begin(), holders.end());
    std::string ids;
    for (size_t i = 0; i < holders.size() && i < 20; ++i) ids += (i ? ", " : "") + std::to_string(holders[i]);
    if (holders.size() > 20) ids += ", ...";
    out.push_back(l.name + " = " + std::to_string(l.max_running) + " is reached" +
                  (l.per_resource ? " for resource \"" + *j.resource + "\"" : std::string()) +
                  ": running jobs " + ids);
  }
  return out;
}

}  // namespace

int Why(CtlContext& ctx, const std::string&, const Words& in) {
  std::optional<std::vector<std::int64_t>> ids = ParseIds(ctx, "why", in);
  if (!ids) return kExitUsage;
  if (ids->size() != 1) return Usage(ctx, "why", "give one job id");
  Result<std::unique_ptr<JobStore>> store = OpenStore(ctx);
  if (!store.ok()) return Fail(ctx, store.status());
  Result<Job> j = (*store)->Get(ids->front());
  if (!j.ok()) return Fail(ctx, j.status());
  std::vector<std::string> reasons;
  if (j->state != JobState::kQueued) {
    reasons.push_back("it is not waiting: it is " + std::string(JobStateName(j->state)));
  } else {
    std::int64_t now = NowMs();
    if (j->run_at_ms > now) {
      reasons.push_back(std::string(j->attempts > 0 ? "waiting for retry " : "scheduled: ") + "runs " +
                        Ago(j->run_at_ms) + " (" + FormatRfc3339(j->run_at_ms) + ")");
    }
    if (j->expires_at_ms && *j->expires_at_ms <= now)
      reasons.push_back("it expired; the scheduler will mark it expired");
    Result<std::vector<std::string>> paused = (*store)->PausedQueues();
    if (paused.ok() && std::find(paused->begin(), paused->end(), j->queue) != paused->end()) {
      reasons.push_back("queue \"" + j->queue + "\" is paused (droverctl resume " + j->queue + ")");
    }
    std::vector<std::string> pools = PoolsServing(ctx.config, j->queue);
    if (pools.empty())
      reasons.push_back("no pool in " + ctx.config.path + " serves queue \"" + j->queue + "\"");
    if (!ctx.config.FindJob(j->type))
      reasons.push_back("job type \"" + j->type + "\" is not configured; a worker will fail it");
    if (reasons.empty()) reasons = LimitsReached(ctx, **store, *j);
    if (reasons.empty()) {
      int capacity = 0;
      for (const std::string& p : pools)
        capacity += ctx.config.pools.at(p).workers * ctx.config.pools.at(p).concurrency;
      JobFilter f;
      f.states = {JobState::kRunning};
      f.queues = {j->queue};
      f.limit = capacity + 1;
      Result<std::vector<Job>> running = (*store)->List(f);
      if (running.ok() && static_cast<int>(running->size()) >= capacity) {
        reasons.push_back("all " + std::to_string(capacity) + " slots serving \"" + j->queue + "\" are busy");
      } else {
        reasons.push_back(
            "nothing holds it back: it is ready and should start as soon as a worker claims it "
            "(is droverd running? `droverctl status`)");
      }
    }
  }
  if (ctx.json) {
    *ctx.out << json{{"id", j->id}, {"state", JobStateName(j->state)}, {"reasons", reasons}}.dump(2) << "\n";
  } else {
    for (const std::string& r : reasons) *ctx.out << "job " << j->id << ": " << r << "\n";
  }
  return kExitOk;
}

// Configured schedules with their stored state; a schedule droverd has not started with yet
// shows no next run.
}  // namespace drover::ctl
