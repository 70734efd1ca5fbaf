#include "supervisor/ctl_bulk_verbs.h"

#include <unistd.h>

#include <ostream>
#include <sstream>

#include "common/time_util.h"

namespace drover::ctl {
namespace {

// The filters a bulk action takes: any of them makes cancel, retry or delete a bulk action.
const std::set<std::string> kFilters = {"--queue", "--type", "--state", "--older-than"};

bool Filtered(const Args& a) {
  for (const std::string& f : kFilters) {
    if (a.options.count(f)) return true;
  }
  return false;
}

// The selector the filters in `a` describe; nullopt after a usage error (printed).
std::optional<JobSelector> Selector(CtlContext& ctx, const std::string& verb, BulkAction action, Args& a) {
  JobSelector which;
  if (a.options.count("--queue")) which.queue = a.options["--queue"];
  if (a.options.count("--type")) which.type = a.options["--type"];
  for (const std::string& name : SplitList(a.options["--state"])) {  // one state, or several
    std::optional<JobState> s = ParseJobState(name);
    if (!s) {
      Usage(ctx, verb, "unknown state \"" + name + "\"");
      return std::nullopt;
    }
    which.states.push_back(*s);
  }
  if (a.options.count("--older-than")) {
    Result<Duration> d = ParseDuration(a.options["--older-than"]);
    if (!d.ok()) {
      Usage(ctx, verb, "--older-than: " + d.status().message());
      return std::nullopt;
    }
    which.enqueued_before_ms = NowMs() - d->count();
  }
  if (Result<std::vector<JobState>> states = SelectedStates(action, which); !states.ok()) {
    Usage(ctx, verb, states.status().message());
    return std::nullopt;
  } else {
    which.states = *states;
  }
  return which;
}

// "state=queued|running, queue=default, type=mail, enqueued over 1h ago": what was selected.
std::string Describe(const JobSelector& which, const Args& a) {
  std::string out = "state=";
  for (size_t i = 0; i < which.states.size(); ++i)
    out += (i ? "|" : "") + std::string(JobStateName(which.states[i]));
  if (which.queue) out += ", queue=" + *which.queue;
  if (which.type) out += ", type=" + *which.type;
  if (which.enqueued_before_ms) out += ", enqueued over " + a.options.at("--older-than") + " ago";
  return out;
}

// Counts the selected jobs, asks on a terminal (unless --yes), then acts (ApplyInBatches).
int Bulk(CtlContext& ctx, const std::string& verb, BulkAction action, Args& a) {
  std::optional<JobSelector> which = Selector(ctx, verb, action, a);
  if (!which) return kExitUsage;
  Result<std::unique_ptr<JobStore>> store = OpenStore(ctx);
  if (!store.ok()) return Fail(ctx, store.status());
  Result<std::int64_t> count = (*store)->CountSelected(action, *which);
  if (!count.ok()) return Fail(ctx, count.status());
  const std::string what = Describe(*which, a);
  if (*count > 0 && !Confirm(ctx, verb + " " + std::to_string(*count) + " job(s) (" + what + ")?",
                             a.flags.count("--yes") > 0)) {
    *ctx.out << "nothing done\n";
    return kExitError;
  }
  BulkBatch total;
  if (Status s = ApplyInBatches(store->get(), action, *which, &total); !s.ok()) {
    // Batches done so far stay done: say how far it got.
    *ctx.err << "droverctl: " << verb << ": stopped after " << total.applied << " job(s)\n";
    return Fail(ctx, s);
  }
  // Taken up but not acted on: retries of jobs whose unique key another job holds.
  const int skipped = total.selected - total.applied;
  if (ctx.json) {
    *ctx.out << json{{"action", BulkActionName(action)},
                     {"selected", total.selected},
                     {"applied", total.applied},
                     {"running", total.running},
                     {"skipped", skipped}}
                    .dump()
             << "\n";
    return kExitOk;
  }
  if (total.selected == 0) {
    *ctx.out << "no jobs match (" << what << ")\n";
    return kExitOk;
  }
  switch (action) {
    case BulkAction::kCancel:
      *ctx.out << "cancelled " << total.applied - total.running << " queued job(s)";
      if (total.running > 0) *ctx.out << "; asked " << total.running << " running job(s) to stop";
      *ctx.out << "\n";
      break;
    case BulkAction::kRetry:
      *ctx.out << "queued " << total.applied << " job(s) again\n";
      if (skipped > 0)
        *ctx.err << "droverctl: retry: skipped " << skipped
                 << " job(s): another queued or running job holds their unique key\n";
      break;
    case BulkAction::kDelete:
      *ctx.out << "deleted " << total.applied << " job(s)\n";
      break;
  }
  return kExitOk;
}

// Ids, or filters (not both): the per-id action or Bulk.
int IdsOrFilters(CtlContext& ctx, const std::string& verb, BulkAction action, Args& a,
                 const std::function<Result<std::string>(JobStore&, std::int64_t)>& one) {
  const bool filtered = Filtered(a);
  if (filtered && !a.positional.empty()) return Usage(ctx, verb, "give job ids or filters, not both");
  if (filtered) return Bulk(ctx, verb, action, a);
  if (a.positional.empty())
    return Usage(ctx, verb, "give job ids, or filters (--queue, --type, --state, --older-than)");
  return ForEachId(ctx, verb, a.positional, one);
}

std::optional<Args> ParseBulk(CtlContext& ctx, const std::string& verb, const Words& in,
                              std::set<std::string> flags = {}) {
  flags.insert("--yes");
  return Parse(ctx, verb, in, kFilters, flags, {"--state"});
}

}  // namespace

Status ApplyInBatches(JobStore* store, BulkAction action, const JobSelector& which, BulkBatch* total) {
  constexpr int kBatch = 250;
  constexpr useconds_t kPauseUs = 1000;
  for (std::int64_t after = 0;; usleep(kPauseUs)) {
    Result<BulkBatch> b = store->ApplyBulk(action, which, after, kBatch);
    if (!b.ok()) return b.status();
    if (b->selected == 0) return Status::Ok();
    total->selected += b->selected;
    total->applied += b->applied;
    total->running += b->running;
    after = b->last_id;
  }
}

int Cancel(CtlContext& ctx, const std::string& verb, const Words& in) {
  std::optional<Args> a = ParseBulk(ctx, verb, in);
  if (!a) return kExitUsage;
  return IdsOrFilters(ctx, verb, BulkAction::kCancel, *a,
                      [](JobStore& s, std::int64_t id) -> Result<std::string> {
                        Result<JobState> st = s.Cancel(id);
                        if (!st.ok()) return st.status();
                        return *st == JobState::kRunning ? std::string("stopping (cancel requested)")
                                                         : std::string("cancelled");
                      });
}

int Retry(CtlContext& ctx, const std::string& verb, const Words& in) {
  std::optional<Args> a = ParseBulk(ctx, verb, in, {"--failed"});
  if (!a) return kExitUsage;
  if (a->flags.count("--failed") && a->options.count("--state"))
    return Usage(ctx, verb, "give --failed or --state, not both");
  // Filters retry failed jobs unless --state says otherwise: cancelled ones were cancelled on purpose.
  if (!a->options.count("--state") && (a->flags.count("--failed") || Filtered(*a)))
    a->options["--state"] = "failed";
  return IdsOrFilters(ctx, verb, BulkAction::kRetry, *a,
                      [](JobStore& s, std::int64_t id) -> Result<std::string> {
                        DROVER_RETURN_IF_ERROR(s.Retry(id));
                        return std::string("queued");
                      });
}

int Delete(CtlContext& ctx, const std::string& verb, const Words& in) {
  std::optional<Args> a = ParseBulk(ctx, verb, in);
  if (!a) return kExitUsage;
  return IdsOrFilters(ctx, verb, BulkAction::kDelete, *a,
                      [](JobStore& s, std::int64_t id) -> Result<std::string> {
                        DROVER_RETURN_IF_ERROR(s.Delete(id));
                        return std::string("deleted");
                      });
}

}  // namespace drover::ctl
