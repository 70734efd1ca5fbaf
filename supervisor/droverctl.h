// droverctl: the operator CLI. Process verbs talk to droverd over its control socket; job
// verbs work on the database directly, so they also work while the daemon is down.
// Not thread-safe.
#ifndef DROVER_SUPERVISOR_DROVERCTL_H_
#define DROVER_SUPERVISOR_DROVERCTL_H_

#include <iosfwd>
#include <string>
#include <vector>

#include "common/config.h"

namespace drover {

// Exit codes, as supervisorctl's users expect them.
inline constexpr int kExitOk = 0;
inline constexpr int kExitError = 1;
inline constexpr int kExitUsage = 2;
inline constexpr int kExitNotRunning = 3;  // also: not found, timeout

struct CtlContext {
  Config config;
  bool json = false;
  std::ostream* out;
  std::ostream* err;
};

// Runs one verb (ctl_verbs.h) with its arguments. Returns the exit code; output goes to
// ctx.out/ctx.err.
int RunVerb(CtlContext& ctx, const std::vector<std::string>& words);

// Splits a prompt line into words, shell-style: quotes group and are removed, except inside a bare
// JSON object or array, which is one word as written (`enqueue echo {"a": 1}`).
std::vector<std::string> SplitPromptWords(const std::string& line);

// The whole command line: [-c FILE] [-s SOCKET] [--json] [VERB ARGS...]; no verb opens the
// prompt. DROVER_CONFIG and DROVER_SOCKET name the defaults.
int DroverctlMain(int argc, char** argv);

}  // namespace drover

#endif  // DROVER_SUPERVISOR_DROVERCTL_H_
