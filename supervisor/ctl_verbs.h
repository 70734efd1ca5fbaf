// The one table of droverctl's verbs: name, usage, what it does, what it works on, and its
// handler. Help, dispatch and the checks of the bash completion and the man page all read it.
// Immutable; thread-safe.
#ifndef DROVER_SUPERVISOR_CTL_VERBS_H_
#define DROVER_SUPERVISOR_CTL_VERBS_H_

#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "supervisor/droverctl.h"

namespace drover {

enum class VerbKind {
  kProcess,  // asks droverd over its control socket
  kJob,      // works on the database directly (also while droverd is down)
  kLocal,    // needs neither (help)
};

using VerbHandler = int (*)(CtlContext& ctx, const std::string& verb, const std::vector<std::string>& args);

struct CtlVerb {
  std::string_view name;
  std::string_view usage;  // after "droverctl "
  std::string_view what;
  VerbKind kind;
  VerbHandler run;
};

std::span<const CtlVerb> CtlVerbs();
// nullptr for an unknown verb.
const CtlVerb* FindCtlVerb(std::string_view name);

// The help text of one verb ("" when unknown), or the overview for "".
std::string VerbHelp(const std::string& verb);

}  // namespace drover

#endif  // DROVER_SUPERVISOR_CTL_VERBS_H_
