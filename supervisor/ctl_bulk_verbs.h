// droverctl's cancel, retry and delete: on the jobs named by id, or on every job that filters
// select (--queue, --type, --state, --older-than), counted first, confirmed on a terminal and
// done in short batches. Each takes (context, verb, arguments) and returns the exit code; see
// ctl_verbs.cc for their usage.
#ifndef DROVER_SUPERVISOR_CTL_BULK_VERBS_H_
#define DROVER_SUPERVISOR_CTL_BULK_VERBS_H_

#include "supervisor/ctl_util.h"

namespace drover::ctl {

int Cancel(CtlContext& ctx, const std::string& verb, const Words& args);
int Retry(CtlContext& ctx, const std::string& verb, const Words& args);
int Delete(CtlContext& ctx, const std::string& verb, const Words& args);

// Runs a bulk action to the end: batches of 250 jobs, each a short transaction, with a pause of
// 1 ms between them so that workers' claims get the write lock in turn. Adds what each batch did
// to *total, so that after an error it says how far the action got.
Status ApplyInBatches(JobStore* store, BulkAction action, const JobSelector& which, BulkBatch* total);

}  // namespace drover::ctl

#endif  // DROVER_SUPERVISOR_CTL_BULK_VERBS_H_
