// droverctl's verbs on single jobs: enqueue, jobs, show, wait, why. Each takes (context, verb,
// arguments) and returns the exit code; see ctl_verbs.cc for their usage.
#ifndef DROVER_SUPERVISOR_CTL_JOB_VERBS_H_
#define DROVER_SUPERVISOR_CTL_JOB_VERBS_H_

#include "supervisor/ctl_util.h"

namespace drover::ctl {

int Enqueue(CtlContext& ctx, const std::string& verb, const Words& args);
int Jobs(CtlContext& ctx, const std::string& verb, const Words& args);
int Show(CtlContext& ctx, const std::string& verb, const Words& args);
int Wait(CtlContext& ctx, const std::string& verb, const Words& args);
int Why(CtlContext& ctx, const std::string& verb, const Words& args);

}  // namespace drover::ctl

#endif  // DROVER_SUPERVISOR_CTL_JOB_VERBS_H_
