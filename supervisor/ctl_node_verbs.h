// droverctl's view of several hosts: `nodes` lists the droverds sharing a PostgreSQL database.
// Takes (context, verb, arguments) and returns the exit code; see ctl_verbs.cc for the usage.
#ifndef DROVER_SUPERVISOR_CTL_NODE_VERBS_H_
#define DROVER_SUPERVISOR_CTL_NODE_VERBS_H_

#include "supervisor/ctl_util.h"

namespace drover::ctl {

int Nodes(CtlContext& ctx, const std::string& verb, const Words& args);
// The nodes table under `status --all-nodes` (text); the exit code of `nodes`.
int PrintNodes(CtlContext& ctx);

}  // namespace drover::ctl

#endif  // DROVER_SUPERVISOR_CTL_NODE_VERBS_H_
