// droverctl's process verbs, requests over droverd's control socket: status (ProcessStatus), tail/maintail,
// avail (from the configuration alone), and the rest (start, stop, restart, signal, pid, reread,
// update/reload, shutdown, version) through Control. Each takes (context, verb, arguments) and
// returns the exit code; see ctl_verbs.cc for their usage.
#ifndef DROVER_SUPERVISOR_CTL_PROCESS_VERBS_H_
#define DROVER_SUPERVISOR_CTL_PROCESS_VERBS_H_

#include "supervisor/ctl_util.h"

namespace drover::ctl {

int ProcessStatus(CtlContext& ctx, const std::string& verb, const Words& args);
int Tail(CtlContext& ctx, const std::string& verb, const Words& args);
int Avail(CtlContext& ctx, const std::string& verb, const Words& args);
int Control(CtlContext& ctx, const std::string& verb, const Words& args);

}  // namespace drover::ctl

#endif  // DROVER_SUPERVISOR_CTL_PROCESS_VERBS_H_
