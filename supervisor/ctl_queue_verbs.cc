// droverctl's verbs on many jobs, queues and schedules: straight on the database.
#include "supervisor/ctl_queue_verbs.h"

#include <unistd.h>

#include <iomanip>
#include <iostream>
#include <ostream>

#include "common/time_util.h"
#include "jobs/pruner.h"
#include "jobs/schedule.h"
#include "supervisor/ctl_util.h"

namespace drover::ctl {

int Prune(CtlContext& ctx, const std::string&, const Words& in) {
  std::optional<Args> a = Parse(ctx, "prune", in, {"--older-than", "--state"}, {"--yes"});
  if (!a) return kExitUsage;
  if (!a->positional.empty()) return Usage(ctx, "prune", "unexpected \"" + a->positional[0] + "\"");
  std::optional<Duration> older;  // absent: each state's configured retention
  if (a->options.count("--older-than")) {
    Result<Duration> d = ParseDuration(a->options["--older-than"]);
    if (!d.ok()) return Usage(ctx, "prune", d.status().message());
    older = *d;
  }
  std::vector<JobState> states;
  for (const JobStateInfo& s : kJobStates) {
    if (s.final) states.push_back(s.state);
  }
  if (a->options.count("--state")) {
    std::optional<JobState> s = ParseJobState(a->options["--state"]);
    if (!s || !IsFinal(*s))
      return Usage(ctx, "prune", "--state takes succeeded, failed, cancelled or expired");
    states = {*s};
  }
  Result<std::unique_ptr<JobStore>> store = OpenStore(ctx);
  if (!store.ok()) return Fail(ctx, store.status());
  const std::int64_t now = NowMs();
  std::vector<std::pair<JobState, std::int64_t>> cuts;  // (state, finished before)
  std::int64_t count = 0;
  for (JobState s : states) {
    std::int64_t before =
        PruneBefore(now, older.value_or(ctx.config.scheduler.retention.*InfoOf(s).retention));
    Result<std::int64_t> n = (*store)->CountPrunable(s, before);
    if (!n.ok()) return Fail(ctx, n.status());
    cuts.emplace_back(s, before);
    count += *n;
  }
  if (count > 0 &&
      !Confirm(ctx, "delete " + std::to_string(count) + " finished job(s)?", a->flags.count("--yes"))) {
    *ctx.out << "nothing deleted\n";
    return kExitError;
  }
  std::int64_t total = 0;
  for (auto [s, before] : cuts) {
    while (true) {
      Result<int> n = (*store)->Prune(s, before, 1000);
      if (!n.ok()) return Fail(ctx, n.status());
      total += *n;
      if (*n < 1000) break;
    }
  }
  if (ctx.json) {
    *ctx.out << json{{"deleted", total}}.dump() << "\n";
  } else {
    *ctx.out << "deleted " << total << " job(s)\n";
  }
  return kExitOk;
}

int Stats(CtlContext& ctx, const std::string& verb, const Words& args) {
  if (!args.empty()) return Usage(ctx, verb, "takes no arguments");
  const bool queues_only = verb == "queues";
  Result<std::unique_ptr<JobStore>> store = OpenStore(ctx);
  if (!store.ok()) return Fail(ctx, store.status());
  Result<std::vector<QueueStats>> stats = (*store)->Stats();
  if (!stats.ok()) return Fail(ctx, stats.status());
  std::map<std::string, std::int64_t> stuck;  // per queue
  if (!queues_only && ctx.config.scheduler.stuck_after.count() > 0) {
    const std::int64_t now = NowMs();
    Result<std::vector<Job>> running = (*store)->RunningSince(now - ctx.config.scheduler.stuck_after.count());
    if (!running.ok()) return Fail(ctx, running.status());
    for (const Job& j : *running) stuck[j.queue] += IsStuck(ctx.config, j, now) ? 1 : 0;
  }
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
      for (const JobStateInfo& s : kJobStates)
        counts[std::string(s.name)] = q.counts[static_cast<int>(s.state)];
      o["counts"] = counts;
      o["oldest_ready_age_s"] =
          q.oldest_ready_ms ? json((NowMs() - *q.oldest_ready_ms) / 1000.0) : json(nullptr);
      o["finished_last_1m"] = q.finished_last_minute;
      o["finished_last_5m"] = q.finished_last_5_minutes;
      o["stuck"] = stuck.count(name) ? stuck.at(name) : 0;
    }
    arr.push_back(o);
  }
  if (ctx.json) {
    *ctx.out << arr.dump(2) << "\n";
    return kExitOk;
  }
  if (queues_only) {
    *ctx.out << std::left << std::setw(20) << "QUEUE" << std::setw(8) << "PAUSED"
             << "POOLS\n";
    for (const json& o : arr) {
      std::string pools;
      for (const json& p : o["pools"]) pools += (pools.empty() ? "" : ", ") + p.get<std::string>();
      *ctx.out << std::setw(20) << o["queue"].get<std::string>() << std::setw(8)
               << (o["paused"] ? "yes" : "no") << (pools.empty() ? "(none: jobs here never run)" : pools)
               << "\n";
    }
    return kExitOk;
  }
  *ctx.out << std::left << std::setw(16) << "QUEUE" << std::right;
  for (const JobStateInfo& s : kJobStates) *ctx.out << std::setw(10) << s.name;
  *ctx.out << "  DONE/1M  DONE/5M  STUCK  OLDEST READY\n";
  for (const json& o : arr) {
    *ctx.out << std::left << std::setw(16) << (o["queue"].get<std::string>() + (o["paused"] ? " (p)" : ""))
             << std::right;
    for (const JobStateInfo& s : kJobStates)
      *ctx.out << std::setw(10) << o["counts"][s.name].get<std::int64_t>();
    *ctx.out << std::setw(9) << o["finished_last_1m"].get<std::int64_t>() << std::setw(9)
             << o["finished_last_5m"].get<std::int64_t>() << std::setw(7) << o["stuck"].get<std::int64_t>();
    *ctx.out << "  "
             << (o["oldest_ready_age_s"].is_null()
                     ? "-"
                     : FormatDuration(
                           Duration(static_cast<std::int64_t>(o["oldest_ready_age_s"].get<double>()) * 1000)))
             << "\n";
  }
  return kExitOk;
}

int Schedules(CtlContext& ctx, const std::string&, const Words& args) {
  if (!args.empty()) return Usage(ctx, "schedules", "takes no arguments");
  Result<std::unique_ptr<JobStore>> store = OpenStore(ctx);
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
    auto time_or_null = [](std::optional<std::int64_t> ms) {
      return ms ? json(FormatRfc3339(*ms)) : json(nullptr);
    };
    json arr = json::array();
    for (const auto& [name, s] : ctx.config.schedules) {
      const ScheduleState* st = stored(name);
      arr.push_back(
          {{"name", name},
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
  std::vector<std::vector<std::string>> rows = {{"NAME", "TIMING", "NEXT RUN", "LAST RUN", "LAST JOB"}};
  for (const auto& [name, s] : ctx.config.schedules) {
    const ScheduleState* st = stored(name);
    std::string next = !st ? "(droverd not started with it)" : st->paused ? "paused" : Ago(st->next_run_ms);
    std::string last = st && st->last_run_ms ? Ago(*st->last_run_ms) : "never";
    std::string job =
        !st || !st->last_job_id
            ? "-"
            : std::to_string(*st->last_job_id) + " " +
                  (st->last_job_state ? std::string(JobStateName(*st->last_job_state)) : "(gone)");
    rows.push_back({name, timing(s), next, last, job});
  }
  PrintColumns(*ctx.out, rows);
  return kExitOk;
}

// Enqueues a run of a schedule now, outside its timetable.
int Trigger(CtlContext& ctx, const std::string&, const Words& args) {
  if (args.size() != 1) return Usage(ctx, "trigger", "give one schedule name");
  auto s = ctx.config.schedules.find(args[0]);
  if (s == ctx.config.schedules.end()) {
    return Error(ctx, kExitNotRunning, "not_found", "no [schedules." + args[0] + "] in " + ctx.config.path);
  }
  const JobTypeConfig* type = ctx.config.FindJob(s->second.job);
  if (type == nullptr)
    return Fail(ctx, Status::NotFound("no [jobs." + s->second.job + "] in " + ctx.config.path));
  Result<std::unique_ptr<JobStore>> store = OpenStore(ctx);
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
int PauseResume(CtlContext& ctx, const std::string& verb, const Words& in) {
  std::optional<Args> a = Parse(ctx, verb, in, {"--schedule"}, {});
  if (!a) return kExitUsage;
  auto schedule = a->options.find("--schedule");
  const bool pause = verb == "pause";
  if (schedule != a->options.end() ? !a->positional.empty() : a->positional.size() != 1) {
    return Usage(ctx, verb, "give one queue, or --schedule NAME");
  }
  Result<std::unique_ptr<JobStore>> store = OpenStore(ctx);
  if (!store.ok()) return Fail(ctx, store.status());
  if (schedule != a->options.end()) {
    Status st = (*store)->SetSchedulePaused(schedule->second, pause);
    if (!st.ok()) return Fail(ctx, st);
    if (ctx.json)
      *ctx.out << json{{"schedule", schedule->second}, {"paused", pause}}.dump() << "\n";
    else
      *ctx.out << "schedule " << schedule->second << ": " << (pause ? "paused" : "resumed") << "\n";
    return kExitOk;
  }
  const std::string& queue = a->positional[0];
  Status st = (*store)->SetQueuePaused(queue, pause);
  if (!st.ok()) return Fail(ctx, st);
  if (ctx.json)
    *ctx.out << json{{"queue", queue}, {"paused", pause}}.dump() << "\n";
  else
    *ctx.out << queue << ": " << (pause ? "paused" : "resumed") << "\n";
  return kExitOk;
}

}  // namespace drover::ctl
