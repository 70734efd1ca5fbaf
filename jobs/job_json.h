// The JSON shape of a job, as scripts see it from `droverctl show --json` and `jobs --json`.
// Pure; thread-safe.
#ifndef DROVER_JOBS_JOB_JSON_H_
#define DROVER_JOBS_JOB_JSON_H_

#include <nlohmann/json.hpp>

#include "jobs/job.h"

namespace drover {

// id, type, queue, state, priority, attempts, max_attempts, run_at, result, last_error,
// errors, progress, checkpoint and the rest of the row. Times are RFC 3339 UTC strings; JSON
// text columns (payload, result when it parses, errors, checkpoint) are embedded as JSON.
nlohmann::json JobToJson(const Job& job);

// The unique key of a job type configured with `unique = true`: "TYPE:" and a hash of the
// payload's canonical JSON (key order and white space do not matter). Payload must be JSON.
std::string UniqueKeyFor(const std::string& type, const std::string& payload);

// What a command job configured with `stdin = "envelope"` reads on stdin, one JSON object:
// {"id", "type", "queue", "attempt", "max_attempts", "payload", "checkpoint"}; checkpoint is
// null on a first attempt. A payload that is not JSON (a plain SQL enqueue) is a string.
std::string EnvelopeJson(const ClaimedJob& job);
// The same object, to add to (a runner's `run` message).
nlohmann::json EnvelopeObject(const ClaimedJob& job);

}  // namespace drover

#endif  // DROVER_JOBS_JOB_JSON_H_
