#include "jobs/job_cgroup.h"

#include <dirent.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fstream>
#include <functional>
#include <sstream>
#include <vector>

#include "common/time_util.h"

namespace drover {
namespace {

// Cgroups whose processes were still exiting when their run ended; removed later.
std::vector<std::string>& Draining() {
  static std::vector<std::string> paths;
  return paths;
}

bool WriteFile(const std::string& path, const char* text) {
  UniqueFd fd(open(path.c_str(), O_WRONLY | O_CLOEXEC));
  if (!fd) return false;
  size_t len = strlen(text);
  return write(fd.get(), text, len) == static_cast<ssize_t>(len);
}

// The cgroup v2 mount point, from /proc/self/mountinfo ("... MOUNTPOINT ... - cgroup2 ...").
std::string Cgroup2Mount() {
  std::ifstream in("/proc/self/mountinfo");
  for (std::string line; std::getline(in, line);) {
    size_t dash = line.find(" - ");
    if (dash == std::string::npos || line.compare(dash + 3, 8, "cgroup2 ") != 0) continue;
    std::istringstream fields(line.substr(0, dash));
    std::string id, parent, dev, root, mount;
    if (fields >> id >> parent >> dev >> root >> mount) return mount;
  }
  return "";
}

}  // namespace

std::string JobCgroupRoot(const std::string& database) {
  std::string mount = Cgroup2Mount();
  if (mount.empty()) return "";
  std::ifstream in("/proc/self/cgroup");
  std::string own;
  for (std::string line; std::getline(in, line);) {
    if (line.rfind("0::", 0) == 0) own = line.substr(3);
  }
  if (own.empty()) return "";
  std::string dir = mount + (own == "/" ? "" : own);
  // cgroup.kill exists in every cgroup but the root: check where the job cgroups will live.
  if (access(dir.c_str(), W_OK) != 0) return "";
  size_t h = std::hash<std::string>{}(database);
  char tag[32];
  snprintf(tag, sizeof tag, "drover-%016zx-", h);
  return dir + "/" + tag;
}

std::string JobCgroupName(pid_t worker, std::int64_t job_id, int attempt) {
  return "job-" + std::to_string(worker) + "-" + std::to_string(job_id) + "-" + std::to_string(attempt);
}

std::string ProcessCgroupName(pid_t pid) { return "proc-" + std::to_string(pid); }

Status JoinProcessCgroup(const std::string& root) {
  std::string path = root + ProcessCgroupName(getpid());
  if (mkdir(path.c_str(), 0755) != 0 && errno != EEXIST) return Status::FromErrno("create cgroup " + path);
  if (!WriteFile(path + "/cgroup.procs", "0")) return Status::FromErrno("join cgroup " + path);
  return Status::Ok();
}

int KillJobCgroups(const std::string& root, pid_t worker) {
  int killed = 0;
  const size_t slash = root.rfind('/');
  const std::string dir = root.substr(0, slash);
  const std::string base = root.substr(slash + 1);
  // A worker's own cgroup, and those of the jobs it started (all of them, for worker 0).
  auto ours = [&](const std::string& n) {
    if (n.rfind(base, 0) != 0) return false;
    std::string rest = n.substr(base.size());
    if (worker == 0) return rest.rfind("job-", 0) == 0 || rest.rfind("proc-", 0) == 0;
    return rest == ProcessCgroupName(worker) || rest.rfind("job-" + std::to_string(worker) + "-", 0) == 0;
  };
  DIR* d = opendir(dir.c_str());
  if (d == nullptr) return 0;
  std::vector<std::string> names;
  while (dirent* e = readdir(d)) {
    if (ours(e->d_name)) names.push_back(e->d_name);
  }
  closedir(d);
  std::vector<std::string> paths;
  for (const std::string& n : names) {
    std::string path = dir + "/" + n;
    std::ifstream procs(path + "/cgroup.procs");
    pid_t p;
    if (procs >> p) ++killed;
    WriteFile(path + "/cgroup.kill", "1");
    paths.push_back(path);
  }
  // A cgroup can be removed once its last process has exited: wait for that a little, as the
  // caller is about to run these jobs again.
  std::int64_t until = MonotonicUs() + 100'000;
  while (true) {
    std::erase_if(paths, [](const std::string& p) { return rmdir(p.c_str()) == 0 || errno == ENOENT; });
    if (paths.empty() || MonotonicUs() >= until) break;
    usleep(200);
  }
  for (std::string& p : paths) Draining().push_back(std::move(p));
  return killed;
}

std::vector<std::string> EnableJobCgroupControllers(const std::string& root) {
  const std::string dir = root.substr(0, root.rfind('/'));
  std::string available;
  std::getline(std::ifstream(dir + "/cgroup.controllers"), available);
  std::vector<std::string> enabled;
  for (const char* c : {"pids", "memory"}) {
    std::istringstream words(available);
    bool there = false;
    for (std::string w; words >> w;) there |= w == c;
    if (!there) continue;
    std::string plus = std::string("+") + c;
    if (!WriteFile(dir + "/cgroup.subtree_control", plus.c_str()) && errno == EBUSY) {
      // "No internal processes": droverd moves into a leaf of its own, then its cgroup can
      // hand controllers down.
      std::string leaf = root + "supervisor";
      if ((mkdir(leaf.c_str(), 0755) == 0 || errno == EEXIST) && WriteFile(leaf + "/cgroup.procs", "0") &&
          WriteFile(dir + "/cgroup.subtree_control", plus.c_str())) {
        enabled.push_back(c);
      }
      continue;
    }
    std::string now;
    std::getline(std::ifstream(dir + "/cgroup.subtree_control"), now);
    if (now.find(c) != std::string::npos) enabled.push_back(c);
  }
  return enabled;
}

size_t RemoveDrainedJobCgroups() {
  std::erase_if(Draining(), [](const std::string& p) { return rmdir(p.c_str()) == 0 || errno == ENOENT; });
  return Draining().size();
}

Result<JobCgroup> JobCgroup::Create(const std::string& root, const std::string& name, const Limits& limits,
                                    std::vector<std::string>* not_applied) {
  JobCgroup cg;
  std::string path = root + name;
  if (mkdir(path.c_str(), 0755) != 0 && errno != EEXIST) return Status::FromErrno("create cgroup " + path);
  cg.path_ = path;
  auto apply = [&](const char* file, const char* key, std::uint64_t value) {
    if (!WriteFile(path + "/" + file, std::to_string(value).c_str()) && not_applied)
      not_applied->push_back(key);
  };
  if (limits.max_processes)
    apply("pids.max", "max_processes", static_cast<std::uint64_t>(*limits.max_processes));
  if (limits.max_memory) apply("memory.max", "max_memory", *limits.max_memory);
  cg.procs_.Reset(open((path + "/cgroup.procs").c_str(), O_WRONLY | O_CLOEXEC));
  if (!cg.procs_) return Status::FromErrno("open " + path + "/cgroup.procs");
  return cg;
}

JobCgroup::~JobCgroup() { Release(); }

JobCgroup::JobCgroup(JobCgroup&& other) noexcept
    : path_(std::move(other.path_)), procs_(std::move(other.procs_)) {
  other.path_.clear();
}

JobCgroup& JobCgroup::operator=(JobCgroup&& other) noexcept {
  if (this != &other) {
    Release();
    path_ = std::move(other.path_);
    procs_ = std::move(other.procs_);
    other.path_.clear();
  }
  return *this;
}

bool JobCgroup::Kill() { return valid() && WriteFile(path_ + "/cgroup.kill", "1"); }

void JobCgroup::Release() {
  if (!valid()) return;
  procs_.Reset();
  Kill();
  if (rmdir(path_.c_str()) != 0 && errno != ENOENT) Draining().push_back(path_);
  path_.clear();
}

}  // namespace drover
