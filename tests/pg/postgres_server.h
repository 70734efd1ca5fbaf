// A PostgreSQL 15 server of a test's own: initdb into a temporary directory, then postgres
// listening only on a unix socket in that directory (listen_addresses = ''), without fsync.
// PostgreSQL refuses to run as root, so under root the server and its files belong to `nobody`.
// The destructor stops the server it started, by pid, and removes its files.
#ifndef DROVER_TESTS_PG_POSTGRES_SERVER_H_
#define DROVER_TESTS_PG_POSTGRES_SERVER_H_

#include <grp.h>
#include <libpq-fe.h>
#include <pwd.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <fstream>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "tests/temp_dir.h"

namespace drover::testing {

class PostgresServer {
 public:
  static constexpr const char* kBinDir = "/usr/lib/postgresql/15/bin";
  static constexpr const char* kUser = "drover";  // the superuser initdb creates

  // Nullptr and *error when the server cannot be set up or does not start.
  static std::unique_ptr<PostgresServer> Start(std::string* error) {
    std::unique_ptr<PostgresServer> s(new PostgresServer());
    if (geteuid() == 0) {
      passwd* pw = getpwnam("nobody");
      if (!pw) return Fail(error, "no user `nobody` to run PostgreSQL as (it refuses root)");
      s->uid_ = pw->pw_uid;
      s->gid_ = pw->pw_gid;
      if (chown(s->dir_.path().c_str(), s->uid_, s->gid_) != 0) return Fail(error, "chown " + s->dir_.path());
    }
    std::string data = s->dir_.path() + "/data";
    if (!s->Run({std::string(kBinDir) + "/initdb", "-D", data, "-U", kUser, "--auth=trust", "-E", "UTF8",
                 "--no-sync", "--no-instructions"})) {
      return Fail(error, "initdb failed: " + s->Log());
    }
    if (!s->StartServer()) return Fail(error, "pg_ctl start failed: " + s->Log());
    return s;
  }

  // One server per test process with a database "tests", started on first use and stopped at
  // exit; null (and *error) when it cannot start. Tests keep apart by schema.
  static PostgresServer* Shared(std::string* error) {
    static std::string failure;
    static std::unique_ptr<PostgresServer> shared = [] {
      std::unique_ptr<PostgresServer> s = Start(&failure);
      if (s && !s->CreateDatabase("tests", &failure)) s.reset();
      return s;
    }();
    if (!shared && error) *error = failure;
    return shared.get();
  }

  // A fast restart (clients are disconnected, open transactions rolled back); true once it
  // accepts connections again.
  bool Restart() {
    if (!Run({std::string(kBinDir) + "/pg_ctl", "-D", dir_.path() + "/data", "-m", "fast", "-w", "stop"}))
      return false;
    return StartServer();
  }

  ~PostgresServer() {
    if (pid_ <= 0) return;
    Run({std::string(kBinDir) + "/pg_ctl", "-D", dir_.path() + "/data", "-m", "immediate", "-w", "stop"});
    for (int i = 0; i < 100 && Running(pid_); ++i) std::this_thread::sleep_for(std::chrono::milliseconds(50));
    if (Running(pid_)) kill(pid_, SIGKILL);
  }

  // True while `pid` exists and is not a zombie (the postmaster is pg_ctl's orphan: whoever
  // reaps orphans here may take a while).
  static bool Running(pid_t pid) {
    std::ifstream stat("/proc/" + std::to_string(pid) + "/stat");
    std::string line;
    if (!std::getline(stat, line)) return false;
    size_t end = line.rfind(')');
    return end != std::string::npos && end + 2 < line.size() && line[end + 2] != 'Z';
  }

  PostgresServer(const PostgresServer&) = delete;
  PostgresServer& operator=(const PostgresServer&) = delete;

  pid_t pid() const { return pid_; }
  const std::string& socket_dir() const { return dir_.path(); }
  // A libpq URI for database `db` on this server.
  std::string Uri(const std::string& db) const {
    return "postgresql:///" + db + "?host=" + dir_.path() + "&user=" + kUser;
  }

  // A fresh database for one test.
  bool CreateDatabase(const std::string& name, std::string* error) {
    PGconn* c = PQconnectdb(Uri("postgres").c_str());
    bool ok = PQstatus(c) == CONNECTION_OK;
    if (ok) {
      PGresult* r = PQexec(c, ("CREATE DATABASE \"" + name + "\"").c_str());
      ok = PQresultStatus(r) == PGRES_COMMAND_OK;
      PQclear(r);
    }
    if (!ok && error) *error = PQerrorMessage(c);
    PQfinish(c);
    return ok;
  }

  std::string Log() const {
    std::ifstream in(dir_.path() + "/setup.log");
    std::string text((std::istreambuf_iterator<char>(in)), {});
    std::ifstream server(dir_.path() + "/server.log");
    return text + std::string((std::istreambuf_iterator<char>(server)), {});
  }

 private:
  PostgresServer() = default;

  static std::unique_ptr<PostgresServer> Fail(std::string* error, const std::string& why) {
    if (error) *error = why;
    return nullptr;
  }

  bool StartServer() {
    std::string data = dir_.path() + "/data";
    if (!Run({std::string(kBinDir) + "/pg_ctl", "-D", data, "-l", dir_.path() + "/server.log", "-w", "-t",
              "60", "-o",
              "-c listen_addresses='' -c unix_socket_directories='" + dir_.path() +
                  "' -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=200",
              "start"})) {
      return false;
    }
    std::ifstream pidfile(data + "/postmaster.pid");
    pid_ = 0;
    pidfile >> pid_;
    return pid_ > 0;
  }

  // Runs `argv` to its end as the server's user, output to setup.log; true on exit status 0.
  bool Run(const std::vector<std::string>& argv) const {
    std::string log = dir_.path() + "/setup.log";
    fflush(nullptr);  // the child's freopen would write the caller's buffered output again
    pid_t pid = fork();
    if (pid == 0) {
      if (uid_ != 0 && (setgroups(0, nullptr) != 0 || setgid(gid_) != 0 || setuid(uid_) != 0)) _exit(126);
      FILE* out = freopen(log.c_str(), "a", stdout);
      if (out) dup2(fileno(stdout), 2);
      std::vector<char*> args;
      for (const std::string& a : argv) args.push_back(const_cast<char*>(a.c_str()));
      args.push_back(nullptr);
      execv(args[0], args.data());
      _exit(127);
    }
    int status = 0;
    return pid > 0 && waitpid(pid, &status, 0) == pid && WIFEXITED(status) && WEXITSTATUS(status) == 0;
  }

  TempDir dir_;
  uid_t uid_ = 0;
  gid_t gid_ = 0;
  pid_t pid_ = 0;
};

}  // namespace drover::testing

#endif  // DROVER_TESTS_PG_POSTGRES_SERVER_H_
