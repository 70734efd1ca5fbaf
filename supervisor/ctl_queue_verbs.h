// droverctl's verbs on finished jobs, queues and schedules: prune, stats, queues, pause, resume, schedules,
// trigger. Each takes (context, verb, arguments) and returns the exit code; see ctl_verbs.cc for their usage.
#ifndef DROVER_SUPERVISOR_CTL_QUEUE_VERBS_H_
#define DROVER_SUPERVISOR_CTL_QUEUE_VERBS_H_

#include "supervisor/ctl_util.h"

namespace drover::ctl {

int Prune(CtlContext& ctx, const std::string& verb, const Words& args);
int Stats(CtlContext& ctx, const std::string& verb, const Words& args);  // also `queues`
int PauseResume(CtlContext& ctx, const std::string& verb, const Words& args);
int Schedules(CtlContext& ctx, const std::string& verb, const Words& args);
int Trigger(CtlContext& ctx, const std::string& verb, const Words& args);

}  // namespace drover::ctl

#endif  // DROVER_SUPERVISOR_CTL_QUEUE_VERBS_H_
