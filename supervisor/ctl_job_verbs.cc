// droverctl's job verbs: straight on the database through the job store.
#include <unistd.h>

#include <fstream>
#include <iomanip>
#include <iostream>
#include <set>
#include <sstream>
#include <thread>

#include <nlohmann/json.hpp>

#include "common/json_util.h"
#include "supervisor/control_server.h"
#include "common/time_util.h"
#include "jobs/job_json.h"
#include "jobs/store/open_job_store.h"
#include "jobs/schedule.h"
#include "supervisor/droverctl.h"

namespace drover {
namespace {

using json = nlohmann::json;

const std::set<std::string> kVerbs = {"enqueue", "jobs",   "show",  "cancel", "retry",     "delete",  "prune", "stats",
                                      "queues",  "pause", "resume", "wait", "why",    "schedules", "trigger"};

int Usage(CtlContext& ctx, const std::string& verb, const std::string& why = "") {
  if (!why.empty()) *ctx.err << "droverctl " << verb << ": " << why << "\n";
  *ctx.err << VerbHelp(verb);
  return kExitUsage;
}

int Fail(CtlContext& ctx, const Status& s) {
  *ctx.err << "droverctl: " << s.message() << "\n";
  return s.IsNotFound() ? kExitNotRunning : kExitError;
}

// Options of the form --name VALUE; the rest are positional.
struct Args {
  std::vector<std::string> positional;
  std::map<std::string, std::string> options;
  std::set<std::string> flags;
};

std::optional<Args> Parse(CtlContext& ctx, const std::string& verb, const std::vector<std::string>& in,
                          const std::set<std::string>& with_value, const std::set<std::string>& flags) {
  Args a;
  for (size_t i = 0; i < in.size(); ++i) {
    const std::string& w = in[i];
    if (w.size() > 2 && w.rfind("--", 0) == 0) {
      if (flags.count(w)) {
        a.flags.insert(w);
      } else if (with_value.count(w)) {
        if (i + 1 >= in.size()) {
          Usage(ctx, verb, w + " needs a value");
          return std::nullopt;
        }
        a.options[w] = in[++i];
      } else {
        Usage(ctx, verb, "unknown option " + w);
        return std::nullopt;
      }
    } else {
      a.positional.push_back(w);
    }
  }
  return a;
}

std::optional<std::int64_t> ParseId(const std::string& s) {
  if (s.empty() || s.size() > 18) return std::nullopt;
  for (char c : s) {
    if (!std::isdigit(static_cast<unsigned char>(c))) return std::nullopt;
  }
  return std::stoll(s);
}

std::optional<std::vector<std::int64_t>> ParseIds(CtlContext& ctx, const std::string& verb,
                                                   const std::vector<std::string>& words) {
  if (words.empty()) {
    Usage(ctx, verb, "give at least one job id");
    return std::nullopt;
  }
  std::vector<std::int64_t> ids;
  for (const std::string& w : words) {
    std::optional<std::int64_t> id = ParseId(w);
    if (!id) {
      Usage(ctx, verb, "\"" + w + "\" is not a job id");
      return std::nullopt;
    }
    ids.push_back(*id);
  }
  return ids;
}

Result<std::unique_ptr<JobStore>> Open(CtlContext& ctx) {
  return OpenJobStore(StoreConfigFor(ctx.config.supervisor));
}

std::string Ago(std::int64_t ms) {
  std::int64_t d = NowMs() - ms;
  std::string rel = FormatDuration(Duration((std::abs(d) / 1000) * 1000));
  return d >= 0 ? rel + " ago" : "in " + rel;
}

std::string Shorten(std::string s, size_t n) {
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.pop_back();
  for (char& c : s) {
    if (c == '\n') c = ' ';
  }
  return s.size() > n ? s.substr(0, n - 1) + "…" : s;
}

Result<EnqueueResult> EnqueueDirect(CtlContext& ctx, const EnqueueRequest& r) {
  Result<std::unique_ptr<JobStore>> store = Open(ctx);
  if (!store.ok()) return store.status();
  return (*store)->Enqueue(r);
}

// Through droverd (`enqueue_group` members have no access to the database itself).
Result<EnqueueResult> EnqueueViaSocket(CtlContext& ctx, const EnqueueRequest& r) {
  std::vector<std::string> args = {r.type, r.payload, "queue=" + r.queue, "priority=" + std::to_string(r.priority),
                                   "max_attempts=" + std::to_string(r.max_attempts)};
  if (r.run_at_ms) args.push_back("delay_ms=" + std::to_string(std::max<std::int64_t>(0, *r.run_at_ms - NowMs())));
  if (r.expires_at_ms) args.push_back("expires_at_ms=" + std::to_string(*r.expires_at_ms));
  if (r.unique_key) args.push_back("unique_key=" + *r.unique_key);
  Result<std::string> reply =
      ControlRequest(ctx.config.supervisor.socket, json{{"cmd", "enqueue"}, {"args", args}}.dump(), 30'000);
  if (!reply.ok()) return reply.status();
  json resp = json::parse(*reply, nullptr, false);
  if (!resp.is_object()) return Status::IoError("unreadable answer from droverd");
  if (resp["ok"] != true) return Status::InvalidArgument(resp.value("error", "enqueue refused"));
  const json& res = resp["result"];
  return EnqueueResult{res["id"].get<std::int64_t>(), *ParseJobState(res["state"].get<std::string>()),
                       res["duplicate"].get<bool>()};
}

int Enqueue(CtlContext& ctx, const std::vector<std::string>& in) {
  std::optional<Args> a = Parse(ctx, "enqueue", in,
                                {"--queue", "--priority", "--delay", "--at", "--unique-key", "--max-attempts", "--expires-in"},
                                {"--via-socket"});
  if (!a) return kExitUsage;
  if (a->positional.empty() || a->positional.size() > 2) return Usage(ctx, "enqueue", "give a job type and at most one payload");
  EnqueueRequest r;
  r.type = a->positional[0];
  const JobTypeConfig* type = ctx.config.FindJob(r.type);
  if (!type) {
    std::string known;
    for (const auto& [name, _] : ctx.config.jobs) known += (known.empty() ? "" : ", ") + name;
    *ctx.err << "droverctl: unknown job type \"" << r.type << "\" in " << ctx.config.path
             << " (known: " << (known.empty() ? "none" : known) << ")\n";
    return kExitError;
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
    if (v->rfind("schedule:", 0) == 0) {
      return Usage(ctx, "enqueue", "unique keys starting with \"schedule:\" belong to the scheduler's runs");
    }
    r.unique_key = *v;
  } else if (type->unique) {
    r.unique_key = UniqueKeyFor(r.type, r.payload);
  }
  Result<EnqueueResult> e = a->flags.count("--via-socket") ? EnqueueViaSocket(ctx, r) : EnqueueDirect(ctx, r);
  if (!e.ok()) return Fail(ctx, e.status());
  if (ctx.json) {
    *ctx.out << json{{"id", e->id}, {"state", JobStateName(e->state)}, {"duplicate", e->duplicate},
                     {"type", r.type}, {"queue", r.queue}}.dump() << "\n";
  } else if (e->duplicate) {
    *ctx.out << e->id << " (already " << JobStateName(e->state) << " with unique key " << *r.unique_key << ")\n";
  } else {
    *ctx.out << e->id << "\n";
  }
  return kExitOk;
}

void PrintTable(CtlContext& ctx, const std::vector<Job>& jobs) {
  *ctx.out << std::left << std::setw(8) << "ID" << std::setw(16) << "TYPE" << std::setw(12) << "QUEUE"
           << std::setw(11) << "STATE" << std::setw(9) << "ATTEMPT" << std::setw(16) << "ENQUEUED" << "INFO\n";
  for (const Job& j : jobs) {
    std::string info;
    if (j.state == JobState::kQueued && j.run_at_ms > NowMs()) info = "runs " + Ago(j.run_at_ms);
    if (j.state == JobState::kRunning) {
      info = j.worker.value_or("");
      if (j.progress) info += " " + std::to_string(static_cast<int>(*j.progress * 100)) + "%";
    }
    if (j.state == JobState::kFailed || j.state == JobState::kCancelled) info = Shorten(j.last_error.value_or(""), 50);
    if (j.state == JobState::kSucceeded && j.result) info = Shorten(*j.result, 50);
    *ctx.out << std::setw(8) << j.id << std::setw(16) << Shorten(j.type, 15) << std::setw(12) << Shorten(j.queue, 11)
             << std::setw(11) << JobStateName(j.state)
             << std::setw(9) << (std::to_string(j.attempts) + "/" + std::to_string(j.max_attempts))
             << std::setw(16) << Ago(j.enqueued_at_ms) << info << "\n";
  }
}

int Jobs(CtlContext& ctx, const std::vector<std::string>& in) {
  std::optional<Args> a = Parse(ctx, "jobs", in, {"--state", "--type", "--queue", "--limit"}, {});
  if (!a) return kExitUsage;
  if (!a->positional.empty()) return Usage(ctx, "jobs", "unexpected \"" + a->positional[0] + "\"");
  JobFilter f;
  if (a->options.count("--state")) {
    f.state = ParseJobState(a->options["--state"]);
    if (!f.state) return Usage(ctx, "jobs", "unknown state (queued, running, succeeded, failed, cancelled, expired)");
  }
  if (a->options.count("--type")) f.type = a->options["--type"];
  if (a->options.count("--queue")) f.queue = a->options["--queue"];
  if (a->options.count("--limit")) {
    std::optional<std::int64_t> n = ParseId(a->options["--limit"]);
    if (!n || *n == 0) return Usage(ctx, "jobs", "--limit takes a positive integer");
    f.limit = static_cast<int>(std::min<std::int64_t>(*n, 1'000'000));
  }
  Result<std::unique_ptr<JobStore>> store = Open(ctx);
  if (!store.ok()) return Fail(ctx, store.status());
  Result<std::vector<Job>> jobs = (*store)->List(f);
  if (!jobs.ok()) return Fail(ctx, jobs.status());
  if (ctx.json) {
    json arr = json::array();
    for (const Job& j : *jobs) arr.push_back(JobToJson(j));
    *ctx.out << arr.dump(2) << "\n";
  } else {
    PrintTable(ctx, *jobs);
  }
  return kExitOk;
}

int Show(CtlContext& ctx, const std::vector<std::string>& in) {
  std::optional<std::vector<std::int64_t>> ids = ParseIds(ctx, "show", in);
  if (!ids) return kExitUsage;
  if (ids->size() != 1) return Usage(ctx, "show", "give one job id");
  Result<std::unique_ptr<JobStore>> store = Open(ctx);
  if (!store.ok()) return Fail(ctx, store.status());
  Result<Job> j = (*store)->Get(ids->front());
  if (!j.ok()) return Fail(ctx, j.status());
  json o = JobToJson(*j);
  if (ctx.json) {
    *ctx.out << o.dump(2) << "\n";
    return kExitOk;
  }
  for (const char* k : {"id", "type", "queue", "state", "priority", "attempts", "max_attempts", "payload", "run_at",
                        "expires_at", "enqueued_at", "started_at", "finished_at", "unique_key", "worker", "pid",
                        "progress", "progress_message", "checkpoint", "last_error"}) {
    if (o[k].is_null()) continue;
    *ctx.out << std::left << std::setw(18) << (std::string(k) + ":") << (o[k].is_string() ? o[k].get<std::string>() : o[k].dump()) << "\n";
  }
  if (j->result) *ctx.out << "result:\n" << *j->result << (j->result->empty() || j->result->back() == '\n' ? "" : "\n");
  if (!o["errors"].empty()) {
    *ctx.out << "errors:\n";
    for (const json& e : o["errors"]) {
      *ctx.out << "  attempt " << e.value("attempt", 0) << " at " << e.value("at", "") << " on " << e.value("worker", "?")
               << ": " << Shorten(e.value("error", ""), 200) << "\n";
    }
  }
  return kExitOk;
}

int ForEachId(CtlContext& ctx, const std::string& verb, const std::vector<std::string>& in,
              const std::function<Result<std::string>(JobStore&, std::int64_t)>& fn) {
  std::optional<std::vector<std::int64_t>> ids = ParseIds(ctx, verb, in);
  if (!ids) return kExitUsage;
  Result<std::unique_ptr<JobStore>> store = Open(ctx);
  if (!store.ok()) return Fail(ctx, store.status());
  int code = kExitOk;
  json out = json::array();
  for (std::int64_t id : *ids) {
    Result<std::string> r = fn(**store, id);
    if (!r.ok()) {
      code = std::max(code, Fail(ctx, r.status()));
      out.push_back({{"id", id}, {"ok", false}, {"error", r.status().message()}});
      continue;
    }
    out.push_back({{"id", id}, {"ok", true}, {"state", *r}});
    if (!ctx.json) *ctx.out << id << ": " << *r << "\n";
  }
  if (ctx.json) *ctx.out << out.dump(2) << "\n";
  return code;
}

int Retry(CtlContext& ctx, const std::vector<std::string>& in) {
  std::optional<Args> a = Parse(ctx, "retry", in, {"--type"}, {"--failed"});
  if (!a) return kExitUsage;
  if (!a->flags.count("--failed")) {
    if (a->options.count("--type")) return Usage(ctx, "retry", "--type goes with --failed");
    return ForEachId(ctx, "retry", a->positional, [](JobStore& s, std::int64_t id) -> Result<std::string> {
      DROVER_RETURN_IF_ERROR(s.Retry(id));
      return std::string("queued");
    });
  }
  if (!a->positional.empty()) return Usage(ctx, "retry", "give ids or --failed, not both");
  Result<std::unique_ptr<JobStore>> store = Open(ctx);
  if (!store.ok()) return Fail(ctx, store.status());
  JobFilter f;
  f.state = JobState::kFailed;
  f.limit = 1'000'000;
  if (a->options.count("--type")) f.type = a->options["--type"];
  Result<std::vector<Job>> jobs = (*store)->List(f);
  if (!jobs.ok()) return Fail(ctx, jobs.status());
  std::vector<std::string> ids;
  for (const Job& j : *jobs) ids.push_back(std::to_string(j.id));
  if (ids.empty()) {
    *ctx.out << (ctx.json ? "[]\n" : "no failed jobs\n");
    return kExitOk;
  }
  return ForEachId(ctx, "retry", ids, [](JobStore& s, std::int64_t id) -> Result<std::string> {
    DROVER_RETURN_IF_ERROR(s.Retry(id));
    return std::string("queued");
  });
}

int Prune(CtlContext& ctx, const std::vector<std::string>& in) {
  std::optional<Args> a = Parse(ctx, "prune", in, {"--older-than", "--state"}, {});
  if (!a) return kExitUsage;
  if (!a->positional.empty()) return Usage(ctx, "prune", "unexpected \"" + a->positional[0] + "\"");
  Duration older{0};
  if (a->options.count("--older-than")) {
    Result<Duration> d = ParseDuration(a->options["--older-than"]);
    if (!d.ok()) return Usage(ctx, "prune", d.status().message());
    older = *d;
  }
  std::vector<JobState> states = {JobState::kSucceeded, JobState::kFailed, JobState::kCancelled, JobState::kExpired};
  if (a->options.count("--state")) {
    std::optional<JobState> s = ParseJobState(a->options["--state"]);
    if (!s || !IsFinal(*s)) return Usage(ctx, "prune", "--state takes succeeded, failed, cancelled or expired");
    states = {*s};
  }
  Result<std::unique_ptr<JobStore>> store = Open(ctx);
  if (!store.ok()) return Fail(ctx, store.status());
  std::int64_t total = 0;
  for (JobState s : states) {
    while (true) {
      Result<int> n = (*store)->Prune(s, NowMs() - older.count(), 1000);
      if (!n.ok()) return Fail(ctx, n.status());
      total += *n;
      if (*n < 1000) break;
    }
  }
  if (ctx.json) *ctx.out << json{{"deleted", total}}.dump() << "\n";
  else *ctx.out << "deleted " << total << " job(s)\n";
  return kExitOk;
}

std::vector<std::string> PoolsServing(const Config& c, const std::string& queue) {
  std::vector<std::string> out;
  for (const auto& [name, pool] : c.pools) {
    if (std::find(pool.queues.begin(), pool.queues.end(), queue) != pool.queues.end()) out.push_back(name);
  }
  return out;
}

int Stats(CtlContext& ctx, bool queues_only) {
  Result<std::unique_ptr<JobStore>> store = Open(ctx);
  if (!store.ok()) return Fail(ctx, store.status());
  Result<std::vector<QueueStats>> stats = (*store)->Stats();
  if (!stats.ok()) return Fail(ctx, stats.status());
  // Queues that pools serve appear even when empty.
  std::map<std::string, QueueStats> by;
  for (QueueStats& q : *stats) by[q.queue] = q;
  for (const auto& [name, pool] : ctx.config.pools) {
    for (const std::string& q : pool.queues) by[q].queue = q;
  }
  json arr = json::array();
  for (const auto& [name, q] : by) {
    json o{{"queue", name}, {"paused", q.paused}, {"pools", PoolsServing(ctx.config, name)}};
    if (!queues_only) {
      json counts;
      for (const JobStateInfo& s : kJobStates) counts[std::string(s.name)] = q.counts[static_cast<int>(s.state)];
      o["counts"] = counts;
      o["oldest_ready_age_s"] = q.oldest_ready_ms ? json((NowMs() - *q.oldest_ready_ms) / 1000.0) : json(nullptr);
      o["finished_last_1m"] = q.finished_last_minute;
      o["finished_last_5m"] = q.finished_last_5_minutes;
    }
    arr.push_back(o);
  }
  if (ctx.json) {
    *ctx.out << arr.dump(2) << "\n";
    return kExitOk;
  }
  if (queues_only) {
    *ctx.out << std::left << std::setw(20) << "QUEUE" << std::setw(8) << "PAUSED" << "POOLS\n";
    for (const json& o : arr) {
      std::string pools;
      for (const json& p : o["pools"]) pools += (pools.empty() ? "" : ", ") + p.get<std::string>();
      *ctx.out << std::setw(20) << o["queue"].get<std::string>() << std::setw(8) << (o["paused"] ? "yes" : "no")
               << (pools.empty() ? "(none: jobs here never run)" : pools) << "\n";
    }
    return kExitOk;
  }
  *ctx.out << std::left << std::setw(16) << "QUEUE" << std::right;
  for (const JobStateInfo& s : kJobStates) *ctx.out << std::setw(10) << s.name;
  *ctx.out << "  DONE/1M  DONE/5M  OLDEST READY\n";
  for (const json& o : arr) {
    *ctx.out << std::left << std::setw(16) << (o["queue"].get<std::string>() + (o["paused"] ? " (p)" : "")) << std::right;
    for (const JobStateInfo& s : kJobStates) *ctx.out << std::setw(10) << o["counts"][s.name].get<std::int64_t>();
    *ctx.out << std::setw(9) << o["finished_last_1m"].get<std::int64_t>() << std::setw(9)
             << o["finished_last_5m"].get<std::int64_t>();
    *ctx.out << "  " << (o["oldest_ready_age_s"].is_null() ? "-" : FormatDuration(Duration(static_cast<std::int64_t>(o["oldest_ready_age_s"].get<double>()) * 1000))) << "\n";
  }
  return kExitOk;
}

int Wait(CtlContext& ctx, const std::vector<std::string>& in) {
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
  Result<std::unique_ptr<JobStore>> store = Open(ctx);
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
      *ctx.err << "droverctl: timed out waiting; " << ids->size() - done.size() << " job(s) not finished\n";
      return kExitNotRunning;
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

int Why(CtlContext& ctx, const std::vector<std::string>& in) {
  std::optional<std::vector<std::int64_t>> ids = ParseIds(ctx, "why", in);
  if (!ids) return kExitUsage;
  if (ids->size() != 1) return Usage(ctx, "why", "give one job id");
  Result<std::unique_ptr<JobStore>> store = Open(ctx);
  if (!store.ok()) return Fail(ctx, store.status());
  Result<Job> j = (*store)->Get(ids->front());
  if (!j.ok()) return Fail(ctx, j.status());
  std::vector<std::string> reasons;
  if (j->state != JobState::kQueued) {
    reasons.push_back("it is not waiting: it is " + std::string(JobStateName(j->state)));
  } else {
    std::int64_t now = NowMs();
    if (j->run_at_ms > now) {
      reasons.push_back(std::string(j->attempts > 0 ? "waiting for retry " : "scheduled: ") + "runs " + Ago(j->run_at_ms) +
                        " (" + FormatRfc3339(j->run_at_ms) + ")");
    }
    if (j->expires_at_ms && *j->expires_at_ms <= now) reasons.push_back("it expired; the scheduler will mark it expired");
    Result<std::vector<std::string>> paused = (*store)->PausedQueues();
    if (paused.ok() && std::find(paused->begin(), paused->end(), j->queue) != paused->end()) {
      reasons.push_back("queue \"" + j->queue + "\" is paused (droverctl resume " + j->queue + ")");
    }
    std::vector<std::string> pools = PoolsServing(ctx.config, j->queue);
    if (pools.empty()) reasons.push_back("no pool in " + ctx.config.path + " serves queue \"" + j->queue + "\"");
    if (!ctx.config.FindJob(j->type)) reasons.push_back("job type \"" + j->type + "\" is not configured; a worker will fail it");
    if (reasons.empty()) {
      int capacity = 0;
      for (const std::string& p : pools) capacity += ctx.config.pools.at(p).workers * ctx.config.pools.at(p).concurrency;
      JobFilter f;
      f.state = JobState::kRunning;
      f.queue = j->queue;
      f.limit = capacity + 1;
      Result<std::vector<Job>> running = (*store)->List(f);
      if (running.ok() && static_cast<int>(running->size()) >= capacity) {
        reasons.push_back("all " + std::to_string(capacity) + " slots serving \"" + j->queue + "\" are busy");
      } else {
        reasons.push_back("nothing holds it back: it is ready and should start as soon as a worker claims it "
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
int Schedules(CtlContext& ctx, const std::vector<std::string>& args) {
  if (!args.empty()) return Usage(ctx, "schedules", "takes no arguments");
  Result<std::unique_ptr<JobStore>> store = Open(ctx);
  if (!store.ok()) return Fail(ctx, store.status());
  Result<std::vector<ScheduleState>> states = (*store)->Schedules();
  if (!states.ok()) return Fail(ctx, states.status());
  std::map<std::string, ScheduleState> by;
  for (ScheduleState& st : *states) by[st.name] = std::move(st);
  auto stored = [&](const std::string& name) -> const ScheduleState* {
    auto it = by.find(name);
    return it == by.end() ? nullptr : &it->second;
  };
  auto timing = [](const ScheduleConfig& s) {
    return s.cron.empty() ? "every " + FormatDuration(s.every) : s.cron + " (" + s.timezone + ")";
  };
  if (ctx.json) {
    auto time_or_null = [](std::optional<std::int64_t> ms) { return ms ? json(FormatRfc3339(*ms)) : json(nullptr); };
    json arr = json::array();
    for (const auto& [name, s] : ctx.config.schedules) {
      const ScheduleState* st = stored(name);
      arr.push_back({{"name", name},
                     {"job", s.job},
                     {"timing", timing(s)},
                     {"overlap", s.overlap},
                     {"catch_up", s.catch_up},
                     {"next_run", st ? time_or_null(st->next_run_ms) : json(nullptr)},
                     {"last_run", st ? time_or_null(st->last_run_ms) : json(nullptr)},
                     {"last_job", st && st->last_job_id ? json(*st->last_job_id) : json(nullptr)},
                     {"last_state", st && st->last_job_state ? json(JobStateName(*st->last_job_state)) : json(nullptr)},
                     {"paused", st && st->paused}});
    }
    *ctx.out << arr.dump(2) << "\n";
    return kExitOk;
  }
  if (ctx.config.schedules.empty()) {
    *ctx.out << "no [schedules] in " << ctx.config.path << "\n";
    return kExitOk;
  }
  *ctx.out << std::left << std::setw(20) << "NAME" << std::setw(22) << "TIMING" << std::setw(18) << "NEXT RUN"
           << std::setw(18) << "LAST RUN" << "LAST JOB\n";
  for (const auto& [name, s] : ctx.config.schedules) {
    const ScheduleState* st = stored(name);
    std::string next = !st ? "(droverd not started with it)" : st->paused ? "paused" : Ago(st->next_run_ms);
    std::string last = st && st->last_run_ms ? Ago(*st->last_run_ms) : "never";
    std::string job = !st || !st->last_job_id ? "-"
                      : std::to_string(*st->last_job_id) + " " +
                            (st->last_job_state ? std::string(JobStateName(*st->last_job_state)) : "(gone)");
    *ctx.out << std::setw(20) << name << std::setw(22) << Shorten(timing(s), 21) << std::setw(18) << next
             << std::setw(18) << last << job << "\n";
  }
  return kExitOk;
}

// Enqueues a run of a schedule now, outside its timetable.
int Trigger(CtlContext& ctx, const std::vector<std::string>& args) {
  if (args.size() != 1) return Usage(ctx, "trigger", "give one schedule name");
  auto s = ctx.config.schedules.find(args[0]);
  if (s == ctx.config.schedules.end()) {
    *ctx.err << "droverctl: no [schedules." << args[0] << "] in " << ctx.config.path << "\n";
    return kExitNotRunning;
  }
  const JobTypeConfig* type = ctx.config.FindJob(s->second.job);
  if (type == nullptr) return Fail(ctx, Status::NotFound("no [jobs." + s->second.job + "] in " + ctx.config.path));
  Result<std::unique_ptr<JobStore>> store = Open(ctx);
  if (!store.ok()) return Fail(ctx, store.status());
  Result<EnqueueResult> r = (*store)->TriggerSchedule(args[0], ScheduledRun(s->second, *type, NowMs()));
  if (!r.ok()) return Fail(ctx, r.status());
  if (ctx.json) {
    *ctx.out << json{{"schedule", args[0]}, {"id", r->id}, {"state", JobStateName(r->state)}}.dump() << "\n";
  } else {
    *ctx.out << args[0] << ": enqueued " << s->second.job << " job " << r->id << "\n";
  }
  return kExitOk;
}

// pause/resume QUEUE, or pause/resume --schedule NAME.
int PauseResume(CtlContext& ctx, const std::string& verb, const std::vector<std::string>& in) {
  std::optional<Args> a = Parse(ctx, verb, in, {"--schedule"}, {});
  if (!a) return kExitUsage;
  auto schedule = a->options.find("--schedule");
  const bool pause = verb == "pause";
  if (schedule != a->options.end() ? !a->positional.empty() : a->positional.size() != 1) {
    return Usage(ctx, verb, "give one queue, or --schedule NAME");
  }
  Result<std::unique_ptr<JobStore>> store = Open(ctx);
  if (!store.ok()) return Fail(ctx, store.status());
  if (schedule != a->options.end()) {
    Status st = (*store)->SetSchedulePaused(schedule->second, pause);
    if (!st.ok()) return Fail(ctx, st);
    if (ctx.json) *ctx.out << json{{"schedule", schedule->second}, {"paused", pause}}.dump() << "\n";
    else *ctx.out << "schedule " << schedule->second << ": " << (pause ? "paused" : "resumed") << "\n";
    return kExitOk;
  }
  const std::string& queue = a->positional[0];
  Status st = (*store)->SetQueuePaused(queue, pause);
  if (!st.ok()) return Fail(ctx, st);
  if (ctx.json) *ctx.out << json{{"queue", queue}, {"paused", pause}}.dump() << "\n";
  else *ctx.out << queue << ": " << (pause ? "paused" : "resumed") << "\n";
  return kExitOk;
}

}  // namespace

bool IsJobVerb(const std::string& verb) { return kVerbs.count(verb) > 0; }

int RunJobVerb(CtlContext& ctx, const std::string& verb, const std::vector<std::string>& args) {
  if (verb == "enqueue") return Enqueue(ctx, args);
  if (verb == "jobs") return Jobs(ctx, args);
  if (verb == "show") return Show(ctx, args);
  if (verb == "wait") return Wait(ctx, args);
  if (verb == "why") return Why(ctx, args);
  if (verb == "retry") return Retry(ctx, args);
  if (verb == "prune") return Prune(ctx, args);
  if (verb == "stats" || verb == "queues") {
    if (!args.empty()) return Usage(ctx, verb, "takes no arguments");
    return Stats(ctx, verb == "queues");
  }
  if (verb == "pause" || verb == "resume") return PauseResume(ctx, verb, args);
  if (verb == "schedules") return Schedules(ctx, args);
  if (verb == "trigger") return Trigger(ctx, args);
  if (verb == "cancel") {
    return ForEachId(ctx, verb, args, [](JobStore& s, std::int64_t id) -> Result<std::string> {
      Result<JobState> st = s.Cancel(id);
      if (!st.ok()) return st.status();
      return *st == JobState::kRunning ? std::string("stopping (cancel requested)") : std::string("cancelled");
    });
  }
  // delete
  return ForEachId(ctx, verb, args, [](JobStore& s, std::int64_t id) -> Result<std::string> {
    DROVER_RETURN_IF_ERROR(s.Delete(id));
    return std::string("deleted");
  });
}

}  // namespace drover
