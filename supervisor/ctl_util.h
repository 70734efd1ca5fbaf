// What droverctl's verbs share: usage errors, option parsing, job ids, the store, and how times
// and long text are shown. Not thread-safe.
#ifndef DROVER_SUPERVISOR_CTL_UTIL_H_
#define DROVER_SUPERVISOR_CTL_UTIL_H_

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "jobs/store/job_store.h"
#include "supervisor/droverctl.h"

namespace drover::ctl {

using json = nlohmann::json;
using Words = std::vector<std::string>;

// Reports an error on stderr and returns `exit_code`: "droverctl: MESSAGE", or with --json one
// line {"error": MESSAGE, "code": CODE} (CODE: usage, not_found, not_running, timeout, conflict,
// invalid_argument, or a control-socket code such as bad_request; else error).
int Error(CtlContext& ctx, int exit_code, std::string_view code, const std::string& message);
// A usage error: `why` (if any) and the verb's usage; returns kExitUsage.
int Usage(CtlContext& ctx, const std::string& verb, const std::string& why = "");
// A failed Status: kExitNotRunning for NotFound, else kExitError.
int Fail(CtlContext& ctx, const Status& s);

// Options of the form --name VALUE; the rest are positional.
struct Args {
  Words positional;
  std::map<std::string, std::string> options;
  std::set<std::string> flags;
};
// Splits `in` into options (those in `with_value` take the next word), flags and positional
// words. An option in `lists` may repeat: its values are joined with commas. An unknown option,
// or another repeated one, is a usage error (printed; nullopt).
std::optional<Args> Parse(CtlContext& ctx, const std::string& verb, const Words& in,
                          const std::set<std::string>& with_value, const std::set<std::string>& flags,
                          const std::set<std::string>& lists = {});

std::optional<std::int64_t> ParseId(const std::string& s);
// The comma-separated names of a list option ("" gives none).
std::vector<std::string> SplitList(const std::string& s);
// An RFC 3339 time, or a duration meaning that long ago ("2h"), as epoch milliseconds.
Result<std::int64_t> TimeOrAgo(const std::string& s);
// At least one id; anything else is a usage error (printed; nullopt).
std::optional<std::vector<std::int64_t>> ParseIds(CtlContext& ctx, const std::string& verb,
                                                  const Words& words);

Result<std::unique_ptr<JobStore>> OpenStore(CtlContext& ctx);

// "3m ago", "in 20s".
std::string Ago(std::int64_t ms);
// One line of at most `n` characters.
std::string Shorten(std::string s, size_t n);

// True for a running job whose attempt has run longer than [scheduler] stuck_after (the
// scheduler logs those once; droverctl marks them in jobs, show and stats).
bool IsStuck(const Config& config, const Job& job, std::int64_t now_ms);

// Prints `rows` (the first is the header) as columns, each as wide as its widest cell plus two
// spaces; the last column is not padded.
void PrintColumns(std::ostream& out, const std::vector<std::vector<std::string>>& rows);

// Asks `question` with " [y/N] " when droverctl talks to a terminal (stdin and stdout), and
// returns true for y or yes. Scripts (no terminal), --json and `yes` (--yes) are not asked.
bool Confirm(CtlContext& ctx, const std::string& question, bool yes);

// Runs `fn` on each job id in `in` and reports per id; the exit code is the worst.
int ForEachId(CtlContext& ctx, const std::string& verb, const Words& in,
              const std::function<Result<std::string>(JobStore&, std::int64_t)>& fn);

}  // namespace drover::ctl

#endif  // DROVER_SUPERVISOR_CTL_UTIL_H_
