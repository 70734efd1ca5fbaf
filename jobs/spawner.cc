// The only translation unit that includes Boost.Process (slow to compile).
#include "jobs/spawner.h"

#include <fcntl.h>
#include <grp.h>
#include <pwd.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <unistd.h>

// glibc declares vfork() but its feature macros hide it from Boost.Process's check; without
// this, use_vfork fails to link. vfork keeps spawning fast from a large worker.
#define BOOST_POSIX_HAS_VFORK 1
#include <boost/process/args.hpp>
#include <boost/process/child.hpp>
#include <boost/process/exe.hpp>
#include <boost/process/extend.hpp>
#include <boost/process/posix.hpp>
#include <boost/process/start_dir.hpp>

namespace drover {
namespace {

struct Identity {
  uid_t uid;
  gid_t gid;
  std::vector<gid_t> groups;
};

// Looks the user and group up before spawning: the vfork child may only make syscalls.
Result<std::optional<Identity>> ResolveIdentity(const SpawnRequest& req) {
  if (req.user.empty() && req.group.empty()) return std::optional<Identity>();
  if (geteuid() != 0) {
    return Status::InvalidArgument(
        "user/group is set but the worker does not run as root; remove `user` "
        "and `group` or run droverd as root");
  }
  Identity id{geteuid(), getegid(), {}};
  std::vector<char> buf(16384);
  if (!req.user.empty()) {
    passwd pw, *found = nullptr;
    if (getpwnam_r(req.user.c_str(), &pw, buf.data(), buf.size(), &found) != 0 || found == nullptr) {
      return Status::InvalidArgument("unknown user \"" + req.user + "\"");
    }
    id.uid = pw.pw_uid;
    id.gid = pw.pw_gid;
    int n = 64;
    id.groups.resize(n);
    if (getgrouplist(req.user.c_str(), pw.pw_gid, id.groups.data(), &n) < 0) {
      id.groups.resize(n);
      getgrouplist(req.user.c_str(), pw.pw_gid, id.groups.data(), &n);
    }
    id.groups.resize(n);
  }
  if (!req.group.empty()) {
    group gr, *found = nullptr;
    if (getgrnam_r(req.group.c_str(), &gr, buf.data(), buf.size(), &found) != 0 || found == nullptr) {
      return Status::InvalidArgument("unknown group \"" + req.group + "\"");
    }
    id.gid = gr.gr_gid;
  }
  if (id.groups.empty()) id.groups.push_back(id.gid);
  return std::optional<Identity>(id);
}

// The job's stdin: a memory file holding `data`, its offset at 0 (pwrite does not move it).
Result<UniqueFd> PayloadFd(const std::string& data) {
  UniqueFd fd(memfd_create("drover-payload", MFD_CLOEXEC));
  if (!fd) return Status::FromErrno("memfd_create");
  for (size_t done = 0; done < data.size();) {
    ssize_t n = pwrite(fd.get(), data.data() + done, data.size() - done, static_cast<off_t>(done));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return Status::FromErrno("write payload");
    done += static_cast<size_t>(n);
  }
  return fd;
}

// A pipe for one of the job's outputs: the job writes to an ordinary blocking pipe, the worker
// reads its end without blocking.
Result<Pipe> OutputPipe() {
  Result<Pipe> p = MakePipe(false);
  if (!p.ok()) return p;
  // A fresh read end's only status flag is O_RDONLY, which F_SETFL leaves alone: no F_GETFL.
  if (fcntl(p->read.get(), F_SETFL, O_NONBLOCK) != 0) return Status::FromErrno("fcntl(F_SETFL)");
  return p;
}

}  // namespace

Result<SpawnedProcess> Spawn(const SpawnRequest& req) {
  namespace bp = boost::process;
  if (req.argv.empty()) return Status::InvalidArgument("empty command");
  Result<std::optional<Identity>> identity = ResolveIdentity(req);
  if (!identity.ok()) return identity.status();
  Result<UniqueFd> in = req.stdin_fd >= 0 ? Result<UniqueFd>(UniqueFd()) : PayloadFd(req.stdin_data);
  if (!in.ok()) return in.status();
  const int stdin_fd = req.stdin_fd >= 0 ? req.stdin_fd : in->get();
  Result<Pipe> out = OutputPipe(), err = OutputPipe(), status = OutputPipe();
  if (!out.ok()) return out.status();
  if (!err.ok()) return err.status();
  if (!status.ok()) return status.status();

  // The environment as execve takes it, built here: the child only points at it.
  std::vector<std::string> env_strings;
  env_strings.reserve(req.env.size());
  for (const auto& [k, v] : req.env) env_strings.push_back(k + "=" + v);
  std::vector<char*> envp;
  envp.reserve(env_strings.size() + 1);
  for (std::string& s : env_strings) envp.push_back(s.data());
  envp.push_back(nullptr);
  std::vector<std::string> args(req.argv.begin() + 1, req.argv.end());
  const std::optional<Identity>& who = *identity;
  const std::optional<std::int64_t> nofile = req.limit_nofile;
  const std::optional<std::uint64_t> as = req.limit_as;
  const pid_t worker = getpid();
  const int cgroup_fd = req.cgroup_procs_fd;
  const bool no_new_privs = req.no_new_privs;

  // Caught signals are reset by exec itself, ignored ones are not: the job gets those back to
  // their default. This process's dispositions are read once (a worker sets them at start-up),
  // which keeps some 60 syscalls out of every spawn, while this process waits for the exec.
  static const std::vector<int> ignored = [] {
    std::vector<int> v;
    for (int sig = 1; sig < NSIG; ++sig) {
      struct sigaction sa;
      if (sig != SIGKILL && sig != SIGSTOP && sigaction(sig, nullptr, &sa) == 0 && sa.sa_handler == SIG_IGN) {
        v.push_back(sig);
      }
    }
    return v;
  }();
  // Runs in the vfork child between fork and exec: syscalls only, no allocation.
  auto setup = [&](auto& exec) {
    auto fail = [&](const char* what) {
      exec.set_error(std::error_code(errno, std::system_category()), what);
    };
    exec.env = envp.data();
    // A session of its own: its own process group, and no controlling terminal, so a job cannot
    // open /dev/tty and type into the terminal droverd was started from.
    if (setsid() < 0) return fail("setsid");
    // "0" moves the writer: everything the job starts from now on is in its cgroup.
    if (cgroup_fd >= 0 && write(cgroup_fd, "0", 1) != 1) return fail("join the job's cgroup");
    sigset_t none;
    sigemptyset(&none);
    if (sigprocmask(SIG_SETMASK, &none, nullptr) != 0) return fail("sigprocmask");
    for (int sig : ignored) signal(sig, SIG_DFL);
    // The job dies with its worker; its own children are reaped by the supervisor (subreaper).
    // A worker that died before this line would never send it: then the job must not start.
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (getppid() != worker) _exit(127);
    if (nofile) {
      rlimit rl{static_cast<rlim_t>(*nofile), static_cast<rlim_t>(*nofile)};
      if (setrlimit(RLIMIT_NOFILE, &rl) != 0) return fail("setrlimit(RLIMIT_NOFILE)");
    }
    if (as) {
      rlimit rl{static_cast<rlim_t>(*as), static_cast<rlim_t>(*as)};
      if (setrlimit(RLIMIT_AS, &rl) != 0) return fail("setrlimit(RLIMIT_AS)");
    }
    if (who) {
      if (setgroups(who->groups.size(), who->groups.data()) != 0) return fail("setgroups");
      if (setgid(who->gid) != 0) return fail("setgid");
      if (setuid(who->uid) != 0) return fail("setuid");
      // A change of credentials clears the parent-death signal: ask for it again.
      prctl(PR_SET_PDEATHSIG, SIGKILL);
      if (getppid() != worker) _exit(127);
    }
    if (no_new_privs && prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0)
      return fail("prctl(PR_SET_NO_NEW_PRIVS)");
  };

  std::error_code ec;
  bp::child child(bp::exe = req.argv[0], bp::args = args,
                  bp::start_dir = req.working_dir.empty() ? std::string("/") : req.working_dir,
                  bp::posix::fd.bind(0, stdin_fd), bp::posix::fd.bind(1, out->write.get()),
                  bp::posix::fd.bind(2, err->write.get()), bp::posix::fd.bind(kStatusFd, status->write.get()),
                  bp::extend::on_exec_setup = setup, bp::posix::use_vfork, ec);
  if (ec) return Status::IoError("start " + req.argv[0] + ": " + ec.message());
  SpawnedProcess p;
  p.pid = child.id();
  child.detach();  // the worker reaps it with waitpid
  p.stdout_fd = std::move(out->read);
  p.stderr_fd = std::move(err->read);
  p.status_fd = std::move(status->read);
  return p;
}

}  // namespace drover
