// droverctl's view of droverd's live event stream: `events` prints job, process and schedule
// events, one line each (GET /events on the control socket). Takes (context, verb, arguments) and
// returns the exit code; see ctl_verbs.cc for the usage.
#ifndef DROVER_SUPERVISOR_CTL_EVENT_VERBS_H_
#define DROVER_SUPERVISOR_CTL_EVENT_VERBS_H_

#include <string>

#include "supervisor/ctl_util.h"

namespace drover::ctl {

int Events(CtlContext& ctx, const std::string& verb, const Words& args);

// One event as `events` prints it without --json: "TIME KIND EVENT key=value ...".
std::string FormatEvent(const json& event);

}  // namespace drover::ctl

#endif  // DROVER_SUPERVISOR_CTL_EVENT_VERBS_H_
