#include "common/config.h"

#include <arpa/inet.h>
#include <string.h>
#include <toml++/toml.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>

#include "common/cron.h"
#include "common/logging.h"
#include "common/time_util.h"
#include "common/time_zone.h"
#include "common/toml_reader.h"

namespace drover {
namespace {

bool ValidName(const std::string& s) {
  if (s.empty() || s.size() > 64) return false;
  for (char c : s) {
    if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '-' || c == '.')) return false;
  }
  return true;
}

nlohmann::json TomlToJson(const toml::node& node) {
  switch (node.type()) {
    case toml::node_type::table: {
      nlohmann::json obj = nlohmann::json::object();
      for (auto&& [k, v] : *node.as_table()) obj[std::string(k.str())] = TomlToJson(v);
      return obj;
    }
    case toml::node_type::array: {
      nlohmann::json arr = nlohmann::json::array();
      for (const toml::node& v : *node.as_array()) arr.push_back(TomlToJson(v));
      return arr;
    }
    case toml::node_type::string:
      return node.as_string()->get();
    case toml::node_type::integer:
      return node.as_integer()->get();
    case toml::node_type::floating_point:
      return node.as_floating_point()->get();
    case toml::node_type::boolean:
      return node.as_boolean()->get();
    default: {
      std::ostringstream os;
      if (const auto* dt = node.as_date_time()) os << *dt;
      if (const auto* d = node.as_date()) os << *d;
      if (const auto* t = node.as_time()) os << *t;
      return os.str();
    }
  }
}

std::string Resolve(const std::string& base_dir, const std::string& p) {
  if (p.empty() || p[0] == '/') return p;
  return (std::filesystem::path(base_dir) / p).lexically_normal().string();
}

bool IsNodeName(const std::string& s) {
  return !s.empty() && s.size() <= 63 &&
         s.find_first_not_of("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._-") ==
             std::string::npos;
}

// The default node name; "localhost" when the host name is unknown or unfit for a node name.
std::string HostName() {
  char host[256] = {};
  if (gethostname(host, sizeof host - 1) != 0 || !IsNodeName(host)) return "localhost";
  return host;
}

void ReadSupervisor(TableReader& r, SupervisorConfig* s) {
  r.String("database", &s->database);
  r.String("socket", &s->socket);
  r.String("socket_group", &s->socket_group, true);
  r.String("enqueue_group", &s->enqueue_group, true);
  r.String("pidfile", &s->pidfile, true);
  r.String("log_file", &s->log_file, true);
  if (const toml::node* n = r.Get("log_level")) {
    if (!r.WrongType(n, "log_level", toml::node_type::string)) {
      std::string v = n->as_string()->get();
      if (!IsValidLogLevel(v)) {
        r.Error(n, "log_level", "must be one of trace, debug, info, warn, error, off (got \"" + v + "\")");
      } else {
        s->log_level = v;
      }
    }
  }
  r.DurationKey("restart_delay", &s->restart_delay);
  r.DurationKey("restart_delay_max", &s->restart_delay_max);
  r.DurationKey("startsecs", &s->startsecs);
  r.Integer("startretries", &s->startretries, 0, 1'000'000);
  r.DurationKey("shutdown_timeout", &s->shutdown_timeout);
  r.DurationKey("hang_timeout", &s->hang_timeout, Duration(100));
  r.DurationKey("lease", &s->lease, Duration(1000));
  r.DurationKey("watchdog", &s->watchdog);
  r.Bool("spare", &s->spare);
  r.Switch("synchronous", "normal", "full", &s->synchronous_full);
  r.String("schema", &s->schema);
  if (!IsSqlIdentifier(s->schema)) {
    r.Error(r.Get("schema"), "schema",
            "must be a plain SQL name: lowercase letters, digits and _, not starting with a digit (got \"" +
                s->schema + "\")");
  }
  r.String("node", &s->node, true);
  if (!s->node.empty() && !IsNodeName(s->node)) {
    r.Error(r.Get("node"), "node",
            "must be 1 to 63 letters, digits, '.', '_' or '-' (got \"" + s->node + "\")");
  }
  r.DurationKey("node_timeout", &s->node_timeout, Duration(2000));
  r.Bool("listen", &s->listen);
  r.DurationKey("poll_interval", &s->poll_interval, Duration(10));
  if (s->restart_delay_max < s->restart_delay) {
    r.Error(r.Get("restart_delay_max"), "restart_delay_max", "must not be less than restart_delay");
  }
}

void ReadHttp(TableReader& r, HttpConfig* h) {
  r.String("listen", &h->listen);
  if (!h->listen.empty()) {
    Result<HostPort> hp = ParseListenAddress(h->listen);
    if (!hp.ok()) r.Error(r.Get("listen"), "listen", hp.status().message());
  }
  r.String("auth", &h->auth);
  if (!h->auth.empty() && !(h->auth.rfind("token-file:", 0) == 0 && h->auth.size() > 11) &&
      !(h->auth.rfind("htpasswd:", 0) == 0 && h->auth.size() > 9)) {
    r.Error(r.Get("auth"), "auth",
            "must be \"token-file:PATH\" or \"htpasswd:PATH\" (got \"" + h->auth + "\")");
  }
  r.Bool("read_only", &h->read_only);
  r.Bool("public_metrics", &h->public_metrics);
  r.StringList("hosts", &h->hosts, true);
  for (const std::string& host : h->hosts) {
    if (host.find_first_not_of("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789.-") !=
        std::string::npos) {
      r.Error(r.Get("hosts"), "hosts", "\"" + host + "\" is not a host name (letters, digits, '.' and '-')");
    }
  }
}

void ReadScheduler(TableReader& r, SchedulerConfig* s, Errors* errors) {
  r.DurationKey("tick", &s->tick, Duration(10));
  r.DurationKey("stuck_after", &s->stuck_after);
  if (const toml::table* t = r.Table("retention")) {
    TableReader rr(*t, "scheduler.retention", errors);
    rr.DurationKey("succeeded", &s->retention.succeeded);
    rr.DurationKey("failed", &s->retention.failed);
    rr.DurationKey("cancelled", &s->retention.cancelled);
    rr.DurationKey("expired", &s->retention.expired);
  }
}

void ReadPool(TableReader& r, PoolConfig* p) {
  r.Integer("workers", &p->workers, 1, 256);
  r.StringList("queues", &p->queues, false);
  r.Integer("concurrency", &p->concurrency, 1, 10'000);
  r.Integer("max_jobs", &p->max_jobs, 0, INT64_MAX);
  r.Size("max_memory", &p->max_memory);
  r.DurationKey("max_age", &p->max_age);
}

// The keys of a started process, shared by [jobs.NAME] and [runners.NAME].
template <typename T>
void ReadProcess(TableReader& r, T* p) {
  r.String("user", &p->user);
  r.String("group", &p->group);
  if (!p->group.empty() && p->user.empty()) {
    // Without a user the process would keep root's uid (and all its capabilities) under that group.
    r.Error(r.Get("group"), "group",
            "needs `user` as well (a group alone would leave the process running as root)");
  }
  if (r.Get("no_new_privs")) {
    bool v = false;
    r.Bool("no_new_privs", &v);
    p->no_new_privs = v;
  }
  r.String("working_dir", &p->working_dir);
  if (!p->working_dir.empty() && p->working_dir[0] != '/') {
    r.Error(r.Get("working_dir"), "working_dir", "must be an absolute path");
  }
  if (const toml::node* n = r.Get("env")) {
    if (!r.WrongType(n, "env", toml::node_type::table)) {
      for (auto&& [k, v] : *n->as_table()) {
        if (!v.is_string()) {
          r.Error(&v, "env." + std::string(k.str()), "must be a string");
          continue;
        }
        p->env[std::string(k.str())] = v.as_string()->get();
      }
    }
  }
  if (r.Get("limit_nofile")) {
    std::int64_t v = 0;
    r.Integer("limit_nofile", &v, 1, 1 << 30);
    if (v > 0) p->limit_nofile = v;
  }
  if (r.Get("limit_as")) {
    std::uint64_t v = 0;
    r.Size("limit_as", &v);
    if (v > 0) p->limit_as = v;
  }
}

void ReadJob(TableReader& r, JobTypeConfig* j) {
  r.StringList("command", &j->command, false);
  r.String("queue", &j->queue);
  r.Integer("priority", &j->priority, -1'000'000, 1'000'000);
  r.DurationKey("timeout", &j->timeout);
  r.DurationKey("kill_after", &j->kill_after);
  r.Integer("max_attempts", &j->max_attempts, 1, 1'000'000);
  r.DurationKey("retry_delay", &j->retry_delay);
  r.DurationKey("retry_delay_max", &j->retry_delay_max);
  if (const toml::node* n = r.Get("permanent_exit_codes")) {
    if (!r.WrongType(n, "permanent_exit_codes", toml::node_type::array)) {
      for (const toml::node& item : *n->as_array()) {
        if (!item.is_integer() || item.as_integer()->get() < 1 || item.as_integer()->get() > 255) {
          r.Error(&item, "permanent_exit_codes", "every element must be an exit code from 1 to 255");
          break;
        }
        j->permanent_exit_codes.push_back(static_cast<int>(item.as_integer()->get()));
      }
    }
  }
  r.Bool("unique", &j->unique);
  r.Integer("max_running", &j->max_running, 1, 1'000'000);
  r.Integer("max_running_per_resource", &j->max_running_per_resource, 1, 1'000'000);
  r.String("limit", &j->limit);
  ReadProcess(r, j);
  r.Size("max_output", &j->max_output);
  r.Switch("stdin", "payload", "envelope", &j->stdin_envelope);
  r.String("runner", &j->runner);
  if (j->is_runner() && j->is_command()) {
    r.Error(r.Get("runner"), "runner", "and `command` exclude each other: a job runs in one or the other");
  }
  if (r.Get("max_processes")) {
    std::int64_t v = 0;
    r.Integer("max_processes", &v, 1, 1 << 22);
    if (v > 0) j->max_processes = v;
  }
  if (r.Get("max_memory")) {
    std::uint64_t v = 0;
    r.Size("max_memory", &v);
    if (v > 0) j->max_memory = v;
  }
  if (j->retry_delay_max < j->retry_delay) {
    r.Error(r.Get("retry_delay_max"), "retry_delay_max", "must not be less than retry_delay");
  }
  if (!j->is_command()) {
    for (const char* key : {"user", "group", "no_new_privs", "working_dir", "env", "limit_nofile", "limit_as",
                            "max_processes", "max_memory", "stdin"}) {
      if (const toml::node* n = r.Get(key)) {
        r.Error(n, key,
                j->is_runner() ? "only applies to command jobs; set it on [runners." + j->runner + "]"
                               : "only applies to command jobs (this job has no `command`, so it is an "
                                 "in-process handler)");
      }
    }
  }
}

void ReadRunner(TableReader& r, RunnerConfig* x) {
  r.StringList("command", &x->command, false);
  if (x->command.empty()) r.Error(r.Get("command"), "command", "is required (the runner's argv)");
  ReadProcess(r, x);
  r.Integer("max_jobs", &x->max_jobs, 0, INT64_MAX);
  r.Size("max_memory", &x->max_memory);
  r.DurationKey("max_age", &x->max_age);
  r.DurationKey("start_timeout", &x->start_timeout);
  if (x->start_timeout.count() <= 0) r.Error(r.Get("start_timeout"), "start_timeout", "must be positive");
}

void ReadSchedule(TableReader& r, ScheduleConfig* s) {
  s->line = r.line();
  r.String("job", &s->job);
  if (s->job.empty() && !r.Get("job")) r.Error(nullptr, "job", "is required (the [jobs.NAME] to enqueue)");
  r.String("cron", &s->cron);
  if (!s->cron.empty()) {
    Result<CronExpr> e = CronExpr::Parse(s->cron);
    if (!e.ok()) r.Error(r.Get("cron"), "cron", e.status().message());
  }
  const toml::node* every = r.Get("every");
  r.DurationKey("every", &s->every, Duration(1000));
  if (s->cron.empty() == (every == nullptr)) {
    r.Error(nullptr, "cron", "give exactly one of `cron` or `every`");
  }
  if (const toml::node* n = r.Get("anchor")) {
    if (every == nullptr) r.Error(n, "anchor", "only applies with `every`");
    std::ostringstream os;
    if (n->is_string()) {
      os << n->as_string()->get();
    } else if (n->is_date_time()) {
      os << *n->as_date_time();
    } else {
      r.Error(n, "anchor", std::string("expected an RFC 3339 time, got ") + TypeName(n->type()));
    }
    if (!os.str().empty()) {
      Result<std::int64_t> t = ParseRfc3339(os.str());
      if (!t.ok()) {
        r.Error(n, "anchor", t.status().message());
      } else {
        s->anchor_ms = *t;
      }
    }
  }
  r.String("timezone", &s->timezone);
  if (const toml::node* n = r.Get("timezone")) {
    if (every != nullptr) r.Error(n, "timezone", "only applies with `cron` (`every` counts real time)");
    Result<TimeZone> tz = TimeZone::Load(s->timezone);
    if (!tz.ok()) r.Error(n, "timezone", tz.status().message());
  }
  if (const toml::node* n = r.Get("payload")) {
    if (n->is_table()) {
      s->payload = TomlToJson(*n).dump();
    } else if (n->is_string()) {
      s->payload = n->as_string()->get();
      if (!nlohmann::json::accept(s->payload)) r.Error(n, "payload", "is not valid JSON");
    } else {
      r.Error(n, "payload", "expected a table or a JSON string");
    }
  }
  r.String("resource", &s->resource);
  r.Bool("overlap", &s->overlap);
  if (const toml::node* n = r.Get("catch_up")) {
    if (!r.WrongType(n, "catch_up", toml::node_type::string)) {
      s->catch_up = n->as_string()->get();
      if (s->catch_up != "one" && s->catch_up != "none" && s->catch_up != "all") {
        r.Error(n, "catch_up", "must be \"one\", \"none\" or \"all\" (got \"" + s->catch_up + "\")");
      }
    }
  }
}

void ReadLimit(TableReader& r, LimitConfig* l) {
  r.Integer("max_running", &l->max_running, 1, 1'000'000);
  if (l->max_running == 0 && !r.Get("max_running")) {
    r.Error(nullptr, "max_running",
            "is required (how many jobs of the types naming this limit may run at once)");
  }
}

// Iterates over the sub-tables of a [section.NAME] group.
template <typename T, typename Fn>
void ReadNamed(TableReader& top, const std::string& section, Errors* errors, std::map<std::string, T>* out,
               Fn read) {
  const toml::table* t = top.Table(section);
  if (!t) return;
  for (auto&& [key, node] : *t) {
    std::string name(key.str());
    if (!ValidName(name)) {
      errors->Add(&node, "[" + section + "." + name + "]",
                  "invalid name (use letters, digits, '_', '-', '.'; at most 64 characters)");
      continue;
    }
    if (!node.is_table()) {
      errors->Add(&node, "[" + section + "] " + name, "expected a table");
      continue;
    }
    T item;
    item.name = name;
    TableReader r(*node.as_table(), section + "." + name, errors);
    read(r, &item);
    (*out)[name] = std::move(item);
  }
}

// "no [SECTION.NAME] is configured (known: a, b)", for a name that `tables` lacks.
template <typename T>
std::string NotConfigured(const std::string& section, const std::string& name,
                          const std::map<std::string, T>& tables) {
  std::string known;
  for (const auto& [k, _] : tables) known += (known.empty() ? "" : ", ") + k;
  return "no [" + section + "." + name + "] is configured (known: " + (known.empty() ? "none" : known) + ")";
}

void CrossCheck(const Config& c, Errors* errors) {
  for (const auto& [name, s] : c.schedules) {
    if (!s.job.empty() && !c.jobs.count(s.job)) {
      errors->AddAt(s.line, "[schedules." + name + "] job", NotConfigured("jobs", s.job, c.jobs));
    }
  }
  if (c.pools.empty()) {
    errors->AddAt(1, "[pools]", "at least one pool is required, e.g. [pools.default] with workers = 2");
  }
}

}  // namespace

bool IsSqlIdentifier(const std::string& s) {
  if (s.empty() || s.size() > 63 || (s[0] >= '0' && s[0] <= '9')) return false;
  return s.find_first_not_of("abcdefghijklmnopqrstuvwxyz0123456789_") == std::string::npos;
}

const JobTypeConfig* Config::FindJob(const std::string& type) const {
  auto it = jobs.find(type);
  return it == jobs.end() ? nullptr : &it->second;
}

Result<Config> ParseConfig(const std::string& text, const std::string& path) {
  toml::table root;
  try {
    root = toml::parse(text, path);
  } catch (const toml::parse_error& e) {
    return Status::InvalidArgument(path + ":" + std::to_string(e.source().begin.line) + ": " +
                                   std::string(e.description()));
  }
  Config c;
  c.path = path;
  c.text = text;
  Errors errors(path);
  {
    TableReader top(root, "", &errors);
    if (const toml::table* t = top.Table("supervisor")) {
      TableReader r(*t, "supervisor", &errors);
      ReadSupervisor(r, &c.supervisor);
    }
    if (c.supervisor.node.empty()) c.supervisor.node = HostName();
    if (const toml::table* t = top.Table("scheduler")) {
      TableReader r(*t, "scheduler", &errors);
      ReadScheduler(r, &c.scheduler, &errors);
    }
    if (const toml::table* t = top.Table("http")) {
      TableReader r(*t, "http", &errors);
      ReadHttp(r, &c.http);
    }
    ReadNamed(top, "pools", &errors, &c.pools, ReadPool);
    ReadNamed(top, "limits", &errors, &c.limits, ReadLimit);
    ReadNamed(top, "runners", &errors, &c.runners, ReadRunner);
    ReadNamed(top, "jobs", &errors, &c.jobs, [&c](TableReader& r, JobTypeConfig* j) {
      ReadJob(r, j);
      if (!j->limit.empty() && !c.limits.count(j->limit)) {
        r.Error(r.Get("limit"), "limit", NotConfigured("limits", j->limit, c.limits));
      }
      if (j->is_runner() && !c.runners.count(j->runner)) {
        r.Error(r.Get("runner"), "runner", NotConfigured("runners", j->runner, c.runners));
      }
    });
    ReadNamed(top, "schedules", &errors, &c.schedules, ReadSchedule);
  }
  CrossCheck(c, &errors);
  if (!errors.empty()) return Status::InvalidArgument(errors.Joined());

  std::string dir = std::filesystem::path(path).parent_path().string();
  if (dir.empty()) dir = ".";
  for (std::string* p :
       {&c.supervisor.database, &c.supervisor.socket, &c.supervisor.pidfile, &c.supervisor.log_file}) {
    if (p == &c.supervisor.database && IsDatabaseUrl(*p)) continue;
    *p = Resolve(std::filesystem::absolute(dir).string(), *p);
  }
  if (size_t colon = c.http.auth.find(':'); colon != std::string::npos) {
    c.http.auth = c.http.auth.substr(0, colon + 1) +
                  Resolve(std::filesystem::absolute(dir).string(), c.http.auth.substr(colon + 1));
  }
  // No PATH lookup: a relative program is relative to the config file, like the other paths.
  for (auto& [name, job] : c.jobs) {
    if (job.is_command()) job.command[0] = Resolve(std::filesystem::absolute(dir).string(), job.command[0]);
  }
  for (auto& [name, runner] : c.runners) {
    runner.command[0] = Resolve(std::filesystem::absolute(dir).string(), runner.command[0]);
    // `command = ["/usr/bin/python3", "runner.py"]` finds runner.py beside the config file.
    if (runner.working_dir.empty()) {
      runner.working_dir = std::filesystem::absolute(dir).lexically_normal().string();
      if (runner.working_dir.size() > 1 && runner.working_dir.back() == '/') runner.working_dir.pop_back();
    }
  }
  return c;
}

std::vector<std::string> PoolsServing(const Config& config, const std::string& queue) {
  std::vector<std::string> out;
  for (const auto& [name, pool] : config.pools) {
    if (std::find(pool.queues.begin(), pool.queues.end(), queue) != pool.queues.end()) out.push_back(name);
  }
  return out;
}

std::vector<std::string> ConfigWarnings(const Config& config) {
  std::vector<std::string> out;
  for (const auto& [name, job] : config.jobs) {
    if (PoolsServing(config, job.queue).empty()) {
      out.push_back("[jobs." + name + "] queue \"" + job.queue +
                    "\" is served by no pool: its jobs would wait until a pool lists it in `queues`");
    }
    if (job.is_command() && access(job.command[0].c_str(), X_OK) != 0) {
      out.push_back("[jobs." + name + "] command " + job.command[0] +
                    (errno == ENOENT ? " does not exist"
                                     : " is not executable (" + std::string(strerror(errno)) + ")"));
    }
  }
  for (const auto& [name, runner] : config.runners) {
    if (access(runner.command[0].c_str(), X_OK) != 0) {
      out.push_back("[runners." + name + "] command " + runner.command[0] +
                    (errno == ENOENT ? " does not exist"
                                     : " is not executable (" + std::string(strerror(errno)) + ")"));
    }
  }
  return out;
}

Result<HostPort> ParseListenAddress(const std::string& listen) {
  auto bad = [&] {
    return Status::InvalidArgument(
        "must be HOST:PORT with an IP address, e.g. \"127.0.0.1:9750\" or \"[::1]:9750\" (got \"" + listen +
        "\")");
  };
  size_t colon = listen.rfind(':');
  if (colon == std::string::npos || colon == 0) return bad();
  HostPort hp;
  hp.host = listen.substr(0, colon);
  std::string port = listen.substr(colon + 1);
  if (hp.host.front() == '[') {
    if (hp.host.back() != ']') return bad();
    hp.host = hp.host.substr(1, hp.host.size() - 2);
  }
  unsigned char addr[16];
  bool v6 = hp.host.find(':') != std::string::npos;
  if (inet_pton(v6 ? AF_INET6 : AF_INET, hp.host.c_str(), addr) != 1) return bad();
  if (v6 && listen.front() != '[') return bad();
  if (port.empty() || port.size() > 5 || port.find_first_not_of("0123456789") != std::string::npos)
    return bad();
  hp.port = std::stoi(port);
  if (hp.port < 1 || hp.port > 65535) return bad();
  return hp;
}

bool IsPostgresDatabase(const std::string& database) {
  return database.starts_with("postgresql://") || database.starts_with("postgres://");
}

std::string DatabaseForLog(const std::string& database) {
  if (!IsDatabaseUrl(database)) return database;
  std::string out = database;
  size_t scheme = out.find("://") + 3;
  size_t at = out.find('@', scheme);
  size_t colon = out.find(':', scheme);
  if (at != std::string::npos && colon < at && out.find('/', scheme) > at)
    out.replace(colon + 1, at - colon - 1, "***");
  for (size_t p = out.find("password="); p != std::string::npos; p = out.find("password=", p + 1)) {
    size_t end = out.find('&', p);
    out.replace(p + 9, (end == std::string::npos ? out.size() : end) - p - 9, "***");
  }
  return out;
}

std::string InstanceKey(const SupervisorConfig& s) {
  return IsPostgresDatabase(s.database) ? s.database + "#node=" + s.node : s.database;
}

std::string WorkerIdPrefix(const SupervisorConfig& s) {
  return IsPostgresDatabase(s.database) ? s.node + "/" : "";
}

bool IsDatabaseUrl(const std::string& database) {
  size_t scheme = database.find("://");
  return scheme != std::string::npos && scheme > 0 && database.find('/') > scheme;
}

Result<Config> LoadConfig(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return Status::FromErrno("read config " + path);
  std::stringstream ss;
  ss << in.rdbuf();
  if (in.bad()) return Status::FromErrno("read config " + path);
  return ParseConfig(ss.str(), path);
}

}  // namespace drover
