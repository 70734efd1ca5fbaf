#include "supervisor/ctl_util.h"

#include <unistd.h>

#include <algorithm>
#include <iostream>
#include <ostream>
#include <sstream>

#include "common/duration.h"
#include "common/time_util.h"
#include "jobs/store/open_job_store.h"
#include "supervisor/ctl_verbs.h"

namespace drover::ctl {

int Error(CtlContext& ctx, int exit_code, std::string_view code, const std::string& message) {
  if (ctx.json) {
    *ctx.err << json{{"error", message}, {"code", code}}.dump() << "\n";
  } else {
    *ctx.err << "droverctl: " << message << "\n";
  }
  return exit_code;
}

int Usage(CtlContext& ctx, const std::string& verb, const std::string& why) {
  if (ctx.json) {
    std::string usage = VerbHelp(verb);
    *ctx.err << json{{"error", why.empty() ? "usage" : why}, {"code", "usage"}, {"usage", usage}}.dump()
             << "\n";
    return kExitUsage;
  }
  if (!why.empty()) *ctx.err << "droverctl " << verb << ": " << why << "\n";
  *ctx.err << VerbHelp(verb);
  return kExitUsage;
}

int Fail(CtlContext& ctx, const Status& s) {
  std::string_view code = s.IsNotFound()          ? "not_found"
                          : s.IsConflict()        ? "conflict"
                          : s.IsInvalidArgument() ? "invalid_argument"
                                                  : "error";
  return Error(ctx, s.IsNotFound() ? kExitNotRunning : kExitError, code, s.message());
}

std::optional<Args> Parse(CtlContext& ctx, const std::string& verb, const Words& in,
                          const std::set<std::string>& with_value, const std::set<std::string>& flags,
                          const std::set<std::string>& lists) {
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
        const std::string& value = in[++i];
        auto [it, added] = a.options.emplace(w, value);
        if (!added && lists.count(w)) {
          it->second += "," + value;
        } else if (!added) {
          // Never a silent "the last one wins": `--type a --type b` would list b's jobs alone.
          Usage(ctx, verb, w + " is given twice; it takes one value");
          return std::nullopt;
        }
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

std::vector<std::string> SplitList(const std::string& s) {
  std::vector<std::string> out;
  std::stringstream in(s);
  for (std::string name; std::getline(in, name, ',');) {
    if (!name.empty()) out.push_back(name);
  }
  return out;
}

Result<std::int64_t> TimeOrAgo(const std::string& s) {
  if (Result<Duration> ago = ParseDuration(s); ago.ok()) return NowMs() - ago->count();
  Result<std::int64_t> at = ParseRfc3339(s);
  if (!at.ok())
    return Status::InvalidArgument("\"" + s +
                                   "\" is neither a time (2026-12-01T08:00:00Z) nor a duration (2h)");
  return at;
}

std::optional<std::int64_t> ParseId(const std::string& s) {
  if (s.empty() || s.size() > 18) return std::nullopt;
  for (char c : s) {
    if (!std::isdigit(static_cast<unsigned char>(c))) return std::nullopt;
  }
  return std::stoll(s);
}

std::optional<std::vector<std::int64_t>> ParseIds(CtlContext& ctx, const std::string& verb,
                                                  const Words& words) {
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

Result<std::unique_ptr<JobStore>> OpenStore(CtlContext& ctx) {
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

bool Confirm(CtlContext& ctx, const std::string& question, bool yes) {
  if (yes || ctx.json || !isatty(STDIN_FILENO) || !isatty(STDOUT_FILENO)) return true;
  *ctx.out << question << " [y/N] ";
  ctx.out->flush();
  std::string answer;
  return std::getline(std::cin, answer) && (answer == "y" || answer == "yes");
}

int ForEachId(CtlContext& ctx, const std::string& verb, const Words& in,
              const std::function<Result<std::string>(JobStore&, std::int64_t)>& fn) {
  std::optional<std::vector<std::int64_t>> ids = ParseIds(ctx, verb, in);
  if (!ids) return kExitUsage;
  Result<std::unique_ptr<JobStore>> store = OpenStore(ctx);
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

namespace {
// Characters on a terminal: UTF-8 continuation bytes take no column.
size_t DisplayWidth(const std::string& s) {
  return static_cast<size_t>(std::count_if(
      s.begin(), s.end(), [](char c) { return (static_cast<unsigned char>(c) & 0xC0) != 0x80; }));
}
}  // namespace

void PrintColumns(std::ostream& out, const std::vector<std::vector<std::string>>& rows) {
  std::vector<size_t> width;
  for (const auto& row : rows) {
    if (width.size() < row.size()) width.resize(row.size());
    for (size_t c = 0; c < row.size(); ++c) width[c] = std::max(width[c], DisplayWidth(row[c]));
  }
  for (const auto& row : rows) {
    std::string line;
    for (size_t c = 0; c < row.size(); ++c) {
      line += row[c];
      if (c + 1 < row.size()) line += std::string(width[c] + 2 - DisplayWidth(row[c]), ' ');
    }
    out << line << "\n";
  }
}

bool IsStuck(const Config& config, const Job& job, std::int64_t now_ms) {
  const Duration limit = config.scheduler.stuck_after;
  return job.state == JobState::kRunning && limit.count() > 0 && job.started_at_ms &&
         now_ms - *job.started_at_ms > limit.count();
}

}  // namespace drover::ctl
