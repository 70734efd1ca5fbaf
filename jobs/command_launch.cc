#include "jobs/command_launch.h"

#include <spdlog/spdlog.h>
#include <unistd.h>

#include "jobs/job_cgroup.h"
#include "jobs/job_json.h"
#include "jobs/status_line.h"

namespace drover {

SpawnRequest CommandRequest(const JobTypeConfig& t, const ClaimedJob& job) {
  SpawnRequest req = ProcessRequest(t);
  req.env["DROVER_JOB_ID"] = std::to_string(job.id);
  req.env["DROVER_JOB_TYPE"] = job.type;
  req.env["DROVER_QUEUE"] = job.queue;
  req.env["DROVER_ATTEMPT"] = std::to_string(job.attempt);
  req.env["DROVER_MAX_ATTEMPTS"] = std::to_string(job.max_attempts);
  req.env["DROVER_STATUS_FD"] = std::to_string(kStatusFd);
  if (job.payload.size() <= 65536) req.env["DROVER_PAYLOAD"] = job.payload;
  if (job.checkpoint) req.env["DROVER_CHECKPOINT"] = *job.checkpoint;
  req.stdin_data = t.stdin_envelope ? EnvelopeJson(job) : job.payload;
  return req;
}

Result<std::unique_ptr<CommandRun>> LaunchCommand(const JobTypeConfig& t, const ClaimedJob& job,
                                                  const std::string& cgroup_root,
                                                  std::set<std::string>* warned) {
  JobCgroup cgroup;
  // Limits need a cgroup per attempt (milliseconds to enter); without them the job stays in the
  // worker's cgroup.
  if (!cgroup_root.empty() && (t.max_processes || t.max_memory)) {
    std::vector<std::string> not_applied;
    Result<JobCgroup> cg = JobCgroup::Create(cgroup_root, JobCgroupName(getpid(), job.id, job.attempt),
                                             {t.max_processes, t.max_memory}, &not_applied);
    if (!not_applied.empty() && warned->insert(t.name).second) {
      spdlog::warn(
          "[jobs.{}] {} not applied: the job's cgroup has no {} controller (it needs cgroup v2 with "
          "that controller delegated to droverd)",
          t.name, not_applied[0], not_applied[0] == "max_processes" ? "pids" : "memory");
    }
    if (cg.ok()) {
      cgroup = std::move(cg).value();
    } else {
      spdlog::warn("job {}: {}; contained by its process group only", job.id, cg.status().ToString());
    }
  }
  return CommandRun::Start(CommandRequest(t, job), t.max_output, std::move(cgroup));
}

}  // namespace drover
