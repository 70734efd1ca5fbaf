// Test helpers that run the real droverd binary in a temporary directory with its own
// database and socket, and stop exactly what they started (by pid). Not thread-safe.
#ifndef DROVER_TESTS_INTEGRATION_DAEMON_H_
#define DROVER_TESTS_INTEGRATION_DAEMON_H_

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <fstream>
#include <functional>
#include <iterator>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>
#include <vector>

#include "common/time_util.h"
#include "jobs/job_cgroup.h"
#include "jobs/store/open_job_store.h"
#include "supervisor/control_server.h"
#include "tests/temp_dir.h"

namespace drover::testing {

// Polls `cond` every 5 ms until it holds or `timeout_ms` passes.
inline bool WaitFor(const std::function<bool()>& cond, int timeout_ms) {
  std::int64_t end = MonotonicUs() + timeout_ms * 1000LL;
  while (MonotonicUs() < end) {
    if (cond()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  return cond();
}

// The whole content of the file at `path` ("" when it cannot be read).
inline std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

// True while `pid` exists and is not a zombie (an orphan's zombie waits for whoever reaps
// orphans on this machine, which may be slow or nobody in a container).
inline bool Alive(pid_t pid) {
  if (pid <= 0 || kill(pid, 0) != 0) return false;
  std::ifstream stat("/proc/" + std::to_string(pid) + "/stat");
  std::string line;
  if (!std::getline(stat, line)) return false;  // reaped between the two checks
  size_t paren = line.rfind(')');
  return paren == std::string::npos || paren + 2 >= line.size() || line[paren + 2] != 'Z';
}

struct ShellResult {
  int code;         // exit status
  std::string out;  // stdout and stderr together, when the command redirects 2>&1
};

// Runs `cmd` through /bin/sh and captures its standard output.
inline ShellResult RunShell(const std::string& cmd) {
  FILE* p = popen(cmd.c_str(), "r");
  std::string out;
  char buf[4096];
  size_t n;
  while ((n = fread(buf, 1, sizeof buf, p)) > 0) out.append(buf, n);
  return {WEXITSTATUS(pclose(p)), out};
}

// Enqueues one job through the store; 0 (and a test failure message on stderr) on error.
inline std::int64_t Enqueue(JobStore* store, const std::string& type, const std::string& payload = "{}",
                            int max_attempts = 5) {
  EnqueueRequest r;
  r.type = type;
  r.payload = payload;
  r.max_attempts = max_attempts;
  Result<EnqueueResult> e = store->Enqueue(r);
  if (!e.ok()) fprintf(stderr, "enqueue %s: %s\n", type.c_str(), e.status().ToString().c_str());
  return e.ok() ? e->id : 0;
}

// Waits until job `id` is in a final state.
inline bool Finished(JobStore* store, std::int64_t id, int timeout_ms = 10'000) {
  return WaitFor([&] { return IsFinal(store->Get(id)->state); }, timeout_ms);
}

class Daemon {
 public:
  // `body` is appended to a [supervisor] section that sets database, socket and log_file.
  // `database`: a PostgreSQL URI, or empty for an SQLite file in the daemon's directory.
  explicit Daemon(const std::string& body, const std::string& supervisor_extra = "",
                  std::string binary = DROVERD_PATH, std::string database = "")
      : binary_(std::move(binary)), database_(std::move(database)) {
    config_ = dir_.path() + "/drover.toml";
    std::ofstream(config_) << "[supervisor]\ndatabase = \"" << (database_.empty() ? "drover.db" : database_)
                           << "\"\nsocket = \"drover.sock\"\n"
                           << "log_file = \"drover.log\"\n"
                           << (supervisor_extra.find("log_level") == std::string::npos
                                   ? "log_level = \"debug\"\n"
                                   : "")
                           << supervisor_extra << "\n"
                           << body;
  }
  ~Daemon() {
    Kill();
    std::string cgroups = JobCgroupRoot(InstanceKey());
    if (cgroups.empty()) return;
    KillJobCgroups(cgroups);
    // An emptied cgroup can stay busy for a moment after its last process was reaped.
    for (int i = 0; i < 100 && RemoveDrainedJobCgroups() > 0; ++i) usleep(10'000);
  }

  const std::string& dir() const { return dir_.path(); }
  const std::string& config() const { return config_; }
  std::string db() const { return database_.empty() ? dir_.path() + "/drover.db" : database_; }
  // As droverd computes it from its config (JobCgroupRoot's key).
  std::string InstanceKey() const {
    Result<Config> c = LoadConfig(config_);
    return c.ok() ? drover::InstanceKey(c->supervisor) : db();
  }
  std::string socket() const { return dir_.path() + "/drover.sock"; }
  pid_t pid() const { return pid_; }

  void RewriteConfig(const std::string& text) { std::ofstream(config_) << text; }

  // Start(), with the fault point of jobs/worker.h armed: the first worker to start a command job
  // stops itself (SIGSTOP) before it reports the job's process group.
  bool StartStoppingAfterSpawn() {
    const std::string marker = dir() + "/stop-after-spawn";
    std::ofstream(marker) << "";
    setenv("DROVER_TEST_STOP_AFTER_SPAWN", marker.c_str(), 1);
    bool started = Start();
    unsetenv("DROVER_TEST_STOP_AFTER_SPAWN");
    return started;
  }

  // Starts droverd and waits until every child reports RUNNING.
  bool Start() {
    fflush(nullptr);  // the child would write the test's buffered output again
    pid_ = fork();
    if (pid_ == 0) {
      std::string out = dir_.path() + "/droverd.out";
      freopen(out.c_str(), "a", stdout);
      freopen(out.c_str(), "a", stderr);
      execl(binary_.c_str(), binary_.c_str(), "-c", config_.c_str(), nullptr);
      _exit(127);
    }
    // A droverd that refuses to start exits at once: no need to wait out the timeout.
    WaitFor([&] { return !Alive(pid_) || AllRunning(); }, 10'000);
    return AllRunning();
  }

  nlohmann::json Request(const std::string& cmd, const std::vector<std::string>& args = {}) {
    nlohmann::json req{{"cmd", cmd}, {"args", args}};
    Result<std::string> r = ControlRequest(socket(), req.dump(), 5000);
    if (!r.ok()) return nlohmann::json{{"ok", false}, {"error", r.status().message()}};
    return nlohmann::json::parse(*r);
  }

  nlohmann::json Process(const std::string& name) {
    nlohmann::json r = Request("status", {name});
    return r["ok"] == true ? r["result"][0] : nlohmann::json();
  }
  pid_t PidOf(const std::string& name) {
    nlohmann::json p = Process(name);
    return p.is_object() && p["pid"].is_number() ? p["pid"].get<pid_t>() : 0;
  }

  bool AllRunning() {
    if (!Alive(pid_)) return false;
    nlohmann::json r = Request("status");
    if (r["ok"] != true) return false;
    for (const auto& p : r["result"]) {
      if (p["state"] != "RUNNING" && p["state"] != "DRAINING")
        return false;  // replaced ones finish their jobs
    }
    return true;
  }

  // SIGTERM and wait; returns the exit status (or -1 if it did not exit within `timeout_ms`).
  int Stop(int timeout_ms = 20'000) {
    if (pid_ <= 0) return -1;
    kill(pid_, SIGTERM);
    return Reap(timeout_ms);
  }

  int Reap(int timeout_ms) {
    int st = -1;
    bool done = WaitFor([&] { return waitpid(pid_, &st, WNOHANG) == pid_; }, timeout_ms);
    if (!done) return -1;
    pid_ = 0;
    return st;
  }

  // kill -9 of droverd. Its children follow (PDEATHSIG), and its workers take their jobs' processes
  // with them (jobs/job_fence.h).
  void Kill() {
    if (pid_ <= 0) return;
    kill(pid_, SIGKILL);
    waitpid(pid_, nullptr, 0);
    pid_ = 0;
  }

  // kill -9 of the whole node: droverd, its children and every job process below them, at once
  // (each is stopped first, so none reacts to another's death), as when the host dies.
  void KillAll() {
    if (pid_ <= 0) return;
    std::vector<pid_t> all{pid_};
    for (size_t i = 0; i < all.size(); ++i) {
      kill(all[i], SIGSTOP);
      std::string p = std::to_string(all[i]);
      std::ifstream children("/proc/" + p + "/task/" + p + "/children");
      for (pid_t c; children >> c;) all.push_back(c);
    }
    for (pid_t p : all) kill(p, SIGKILL);
    waitpid(pid_, nullptr, 0);
    pid_ = 0;
  }

  // The pid of droverd's spare process ("drover: spare" in ps); 0 when there is none.
  pid_t SparePid() const {
    std::string self = std::to_string(pid_);
    std::ifstream children("/proc/" + self + "/task/" + self + "/children");
    pid_t child;
    while (children >> child) {
      std::ifstream cmdline("/proc/" + std::to_string(child) + "/cmdline");
      std::string title;
      std::getline(cmdline, title, '\0');
      if (title == "drover: spare") return child;
    }
    return 0;
  }

  std::unique_ptr<JobStore> Store() {
    Result<Config> c = LoadConfig(config_);
    Result<std::unique_ptr<JobStore>> s =
        OpenJobStore(c.ok() ? StoreConfigFor(c->supervisor) : StoreConfig{.database = db()});
    return s.ok() ? std::move(s).value() : nullptr;
  }

  std::string Log() { return ReadAll(dir_.path() + "/drover.log"); }
  // What droverd and its children wrote to stdout and stderr.
  std::string Output() { return ReadAll(dir_.path() + "/droverd.out"); }

 private:
  static std::string ReadAll(const std::string& path) {
    std::ifstream in(path);
    return std::string(std::istreambuf_iterator<char>(in), {});
  }

  std::string binary_;
  std::string database_;
  TempDir dir_;
  std::string config_;
  pid_t pid_ = 0;
};

}  // namespace drover::testing

#endif  // DROVER_TESTS_INTEGRATION_DAEMON_H_
