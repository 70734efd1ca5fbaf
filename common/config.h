// The drover configuration (DESIGN.md §7): typed structs and the TOML loader that validates
// them. Loading is a pure function of the file; thread-compatible.
#ifndef DROVER_COMMON_CONFIG_H_
#define DROVER_COMMON_CONFIG_H_

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "common/duration.h"
#include "common/status.h"

namespace drover {

struct SupervisorConfig {
  std::string database = "/var/lib/drover/drover.db";
  std::string socket = "/run/drover/drover.sock";
  std::string socket_group;  // group owning the socket (mode 0660); empty: the process's group
  // Members may only enqueue, through the socket (`droverctl enqueue --via-socket`); with it the
  // socket is mode 0666 and droverd checks every peer itself.
  std::string enqueue_group;
  std::string pidfile;  // empty: none
  std::string log_level = "info";
  std::string log_file;  // empty: stderr (journald under systemd)
  Duration restart_delay{1000};
  Duration restart_delay_max{60'000};
  Duration startsecs{10'000};
  int startretries = 0;  // rapid failures before FATAL; 0 = never give up
  Duration shutdown_timeout{30'000};
  Duration hang_timeout{60'000};
  Duration lease{60'000};  // how long a claim stays valid without renewal
  bool synchronous_full = false;
  Duration watchdog{0};  // systemd watchdog ping interval; 0 = use WATCHDOG_USEC if set
  bool spare = true;     // keep one pre-started process ready to replace a child that exits
  // Several hosts (PostgreSQL, DESIGN.md §10): the schema of drover's tables; this droverd's node
  // name (default: the host name), which its worker ids carry; how long a silent node counts as
  // alive; LISTEN/NOTIFY wake-ups, or polling every poll_interval without them. poll_interval is
  // also how often idle workers look for work on either backend without a wake-up.
  std::string schema = "drover";
  std::string node;
  Duration node_timeout{15'000};
  bool listen = true;
  Duration poll_interval{1000};
};

// True when `s` is a plain SQL name: lowercase letters, digits and _, not starting with a digit,
// at most 63 bytes (PostgreSQL's limit). Such a name needs no quoting anywhere.
bool IsSqlIdentifier(const std::string& s);
// True when `database` names a PostgreSQL server (postgresql:// or postgres://).
bool IsPostgresDatabase(const std::string& database);
// `database` as logs may show it: a PostgreSQL URI without its password.
std::string DatabaseForLog(const std::string& database);
// What tells one droverd from another on this host: its SQLite file, or on PostgreSQL its
// database and node name (nodes of one database may share a host).
std::string InstanceKey(const SupervisorConfig& s);
// What this node's worker ids start with: "NODE/" on PostgreSQL, nothing on SQLite (one host).
std::string WorkerIdPrefix(const SupervisorConfig& s);

struct RetentionConfig {
  Duration succeeded{3LL * 86'400'000};
  Duration failed{7LL * 86'400'000};
  Duration cancelled{7LL * 86'400'000};
  Duration expired{7LL * 86'400'000};

  bool operator==(const RetentionConfig&) const = default;
};

struct SchedulerConfig {
  Duration tick{1000};
  Duration stuck_after{24LL * 3'600'000};
  RetentionConfig retention;

  bool operator==(const SchedulerConfig&) const = default;
};

// A [limits.NAME] table: a cap on running jobs that the job types naming it share.
struct LimitConfig {
  std::string name;
  int max_running = 0;
  bool operator==(const LimitConfig&) const = default;
};

struct PoolConfig {
  std::string name;
  int workers = 2;
  std::vector<std::string> queues{"default"};
  int concurrency = 4;
  std::int64_t max_jobs = 10'000;           // 0 = never recycle on count
  std::uint64_t max_memory = 512ULL << 20;  // 0 = no limit
  Duration max_age{24LL * 3'600'000};       // 0 = no limit

  bool operator==(const PoolConfig&) const = default;
};

struct JobTypeConfig {
  std::string name;
  std::vector<std::string> command;  // argv; empty: an in-process handler named `name`.
                                     // A relative program is resolved against the config file's directory.
  std::string queue = "default";
  int priority = 0;     // higher runs first
  Duration timeout{0};  // 0 = no timeout
  Duration kill_after{5000};
  int max_attempts = 5;
  Duration retry_delay{15'000};
  Duration retry_delay_max{3'600'000};
  std::vector<int> permanent_exit_codes;
  bool unique = false;
  // Caps on running jobs of this type across all workers (0: none): in all, per resource id (jobs
  // without one are not capped), and a [limits.NAME] budget shared with other types.
  int max_running = 0;
  int max_running_per_resource = 0;
  std::string limit;
  std::string user;
  std::string group;
  // PR_SET_NO_NEW_PRIVS: setuid programs and file capabilities grant the job nothing. Unset: on
  // for jobs with a `user`, off otherwise.
  std::optional<bool> no_new_privs;
  std::string working_dir;
  std::map<std::string, std::string> env;
  std::uint64_t max_output = 1ULL << 20;
  std::optional<std::int64_t> limit_nofile;
  std::optional<std::uint64_t> limit_as;
  // Limits of the job's cgroup (pids.max, memory.max) where the pids and memory controllers of
  // cgroup v2 are delegated to droverd (jobs/job_cgroup.h); elsewhere a warning says they are not
  // applied.
  std::optional<std::int64_t> max_processes;
  std::optional<std::uint64_t> max_memory;
  // What a command job reads on stdin: the payload, or an envelope with the payload, the
  // last checkpoint and the attempt (EnvelopeJson in jobs/job_json.h).
  bool stdin_envelope = false;
  // The [runners.NAME] that runs this type's jobs (no `command` then); empty: none.
  std::string runner;

  bool is_command() const { return !command.empty(); }
  bool is_runner() const { return !runner.empty(); }
  bool operator==(const JobTypeConfig&) const = default;
};

// A [runners.NAME] table: a long-lived program that the workers start and hand jobs to over its
// stdin and stdout (docs/runner-protocol.md), instead of a new process per job.
struct RunnerConfig {
  std::string name;
  std::vector<std::string>
      command;  // argv; a relative program is resolved against the config file's directory
  std::string user;
  std::string group;
  std::optional<bool> no_new_privs;  // unset: on with a `user`
  std::string working_dir;
  std::map<std::string, std::string> env;
  std::optional<std::int64_t> limit_nofile;
  std::optional<std::uint64_t> limit_as;
  // Recycling: a runner that ran this many jobs, grew this large (resident) or is this old gets
  // no more jobs, finishes the ones it holds and is replaced. 0: no limit.
  std::int64_t max_jobs = 0;
  std::uint64_t max_memory = 0;
  Duration max_age{0};
  // How long a starting runner may take to say hello; longer is a failed start.
  Duration start_timeout{30'000};

  bool operator==(const RunnerConfig&) const = default;
};

struct ScheduleConfig {
  std::string name;
  std::string job;
  std::string cron;   // 5-field cron expression, or empty
  Duration every{0};  // or an interval
  std::optional<std::int64_t> anchor_ms;
  std::string timezone = "UTC";
  std::string payload = "{}";  // JSON text
  std::string resource;        // the runs' resource id; empty: none
  bool overlap = true;
  std::string catch_up = "one";  // one | none | all
  int line = 0;                  // where it was defined, for later validation errors

  bool operator==(const ScheduleConfig&) const = default;
};

// [http]: droverd's TCP listener (XML-RPC at /RPC2). Off when `listen` is empty.
struct HttpConfig {
  std::string listen;  // "127.0.0.1:9750", "[::1]:9750", "0.0.0.0:9750"
  // "token-file:PATH" (the password, any user name, or a Bearer token) or "htpasswd:PATH" (bcrypt
  // or SHA-crypt hashes); empty: no credentials, so the listener serves /metrics only.
  std::string auth;
  bool read_only = false;       // true: nothing that changes state, whatever the credentials
  bool public_metrics = false;  // true: /metrics needs no credentials even with `auth`
  // Host names (besides IP addresses and localhost) that requests may name in their Host header:
  // a page whose name merely resolves to this machine (DNS rebinding) is refused.
  std::vector<std::string> hosts;
  bool operator==(const HttpConfig&) const = default;
};

struct Config {
  std::string path;  // the file it was loaded from
  std::string text;  // the TOML it was parsed from
  SupervisorConfig supervisor;
  SchedulerConfig scheduler;
  HttpConfig http;
  std::map<std::string, PoolConfig> pools;
  std::map<std::string, JobTypeConfig> jobs;
  std::map<std::string, ScheduleConfig> schedules;
  std::map<std::string, LimitConfig> limits;
  std::map<std::string, RunnerConfig> runners;

  // The job type's settings, or nullptr when it is not configured.
  const JobTypeConfig* FindJob(const std::string& type) const;
};

// Splits an [http] listen address into host and port; InvalidArgument saying the expected form.
struct HostPort {
  std::string host;  // an IPv4 or IPv6 literal, without brackets
  int port = 0;
};
Result<HostPort> ParseListenAddress(const std::string& listen);

// True when a database setting is a URL ("postgresql://...") rather than a file path.
bool IsDatabaseUrl(const std::string& database);

// The pools whose workers claim from `queue`.
std::vector<std::string> PoolsServing(const Config& config, const std::string& queue);

// What a valid configuration probably got wrong, one sentence each: a job type whose queue no
// pool serves (its jobs would wait forever), a command program that does not exist or is not
// executable.
std::vector<std::string> ConfigWarnings(const Config& config);

// Loads and validates `path`. On failure the Status lists every problem found, one per line,
// each as "FILE:LINE: [section] key: what is wrong". Relative paths in the file (database,
// socket, pidfile, log_file; not a database URL) are resolved against the file's directory.
Result<Config> LoadConfig(const std::string& path);

// The same for TOML text already in memory; `path` is used for messages and relative paths.
Result<Config> ParseConfig(const std::string& text, const std::string& path);

}  // namespace drover

#endif  // DROVER_COMMON_CONFIG_H_
