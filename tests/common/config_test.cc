#include "common/config.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <fstream>

#include "tests/temp_dir.h"

namespace drover {
namespace {

constexpr const char* kFull = R"(
[supervisor]
database = "/var/lib/drover/drover.db"
socket = "/run/drover/drover.sock"
log_level = "info"
restart_delay = "1s"
restart_delay_max = "60s"
startsecs = "10s"
shutdown_timeout = "30s"
hang_timeout = "60s"

[scheduler]
tick = "1s"
stuck_after = "24h"
retention = { succeeded = "3d", failed = "7d", cancelled = "7d", expired = "7d" }

[pools.default]
workers = 2
queues = ["default"]
concurrency = 4
max_jobs = 10000
max_memory = "512MiB"
max_age = "24h"

[jobs.send_email]
command = ["/usr/lib/myapp/send-email", "--quiet"]
queue = "default"
priority = 0
timeout = "30s"
kill_after = "5s"
max_attempts = 5
retry_delay = "15s"
retry_delay_max = "1h"
permanent_exit_codes = [64, 65]
unique = false
user = "myapp"
working_dir = "/var/lib/myapp"
env = { LANG = "C.UTF-8" }
max_output = "1MiB"

[jobs.report]

[schedules.nightly_report]
job = "report"
cron = "0 3 * * *"
timezone = "UTC"
payload = { kind = "nightly" }
overlap = false
catch_up = "one"
)";

TEST(ConfigTest, ParsesTheDesignExample) {
  Result<Config> c = ParseConfig(kFull, "/etc/drover/drover.toml");
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  EXPECT_EQ(c->supervisor.database, "/var/lib/drover/drover.db");
  EXPECT_EQ(c->supervisor.restart_delay_max, Duration(60'000));
  EXPECT_EQ(c->scheduler.retention.succeeded, Duration(3 * 86'400'000LL));
  const PoolConfig& pool = c->pools.at("default");
  EXPECT_EQ(pool.workers, 2);
  EXPECT_EQ(pool.concurrency, 4);
  EXPECT_EQ(pool.max_memory, 512ULL << 20);
  const JobTypeConfig& job = c->jobs.at("send_email");
  EXPECT_TRUE(job.is_command());
  EXPECT_EQ(job.command[1], "--quiet");
  EXPECT_EQ(job.timeout, Duration(30'000));
  EXPECT_EQ(job.permanent_exit_codes, (std::vector<int>{64, 65}));
  EXPECT_EQ(job.env.at("LANG"), "C.UTF-8");
  EXPECT_FALSE(c->jobs.at("report").is_command());
  const ScheduleConfig& s = c->schedules.at("nightly_report");
  EXPECT_EQ(s.cron, "0 3 * * *");
  EXPECT_EQ(s.payload, R"({"kind":"nightly"})");
  EXPECT_FALSE(s.overlap);
}

TEST(ConfigTest, DefaultsApplyAndRelativePathsFollowTheFile) {
  Result<Config> c =
      ParseConfig("[supervisor]\ndatabase = \"var/d.db\"\n[pools.p]\n", "/srv/app/drover.toml");
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  EXPECT_EQ(c->supervisor.database, "/srv/app/var/d.db");
  EXPECT_EQ(c->supervisor.shutdown_timeout, Duration(30'000));
  EXPECT_TRUE(c->supervisor.spare);
  EXPECT_EQ(c->pools.at("p").queues, std::vector<std::string>{"default"});
}

TEST(ConfigTest, StdinIsThePayloadUnlessAnEnvelopeIsAskedFor) {
  Result<Config> c = ParseConfig(
      "[pools.p]\n[jobs.a]\ncommand = [\"/bin/true\"]\n"
      "[jobs.b]\ncommand = [\"/bin/true\"]\nstdin = \"envelope\"\n",
      "/srv/drover.toml");
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  EXPECT_FALSE(c->jobs.at("a").stdin_envelope);
  EXPECT_TRUE(c->jobs.at("b").stdin_envelope);
}

TEST(ConfigTest, RelativeCommandsFollowTheFile) {
  Result<Config> c =
      ParseConfig("[pools.p]\n[jobs.j]\ncommand = [\"bin/run\", \"x\"]\n", "/srv/app/drover.toml");
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  EXPECT_EQ(c->jobs.at("j").command, (std::vector<std::string>{"/srv/app/bin/run", "x"}));
}

struct BadCase {
  const char* toml;
  const char* expected;  // substring of the error: file:line and key
};

class ConfigErrorTest : public ::testing::TestWithParam<BadCase> {};

TEST_P(ConfigErrorTest, NamesFileLineAndKey) {
  Result<Config> c = ParseConfig(GetParam().toml, "test.toml");
  ASSERT_FALSE(c.ok()) << GetParam().toml;
  EXPECT_NE(c.status().message().find(GetParam().expected), std::string::npos)
      << "error was: " << c.status().message();
}

INSTANTIATE_TEST_SUITE_P(
    Cases, ConfigErrorTest,
    ::testing::Values(
        BadCase{"[pools.p]\nworkers = 0\n", "test.toml:2: [pools.p] workers: must be between 1"},
        BadCase{"[pools.p]\nworkers = \"two\"\n",
                "test.toml:2: [pools.p] workers: expected an integer, got a string"},
        BadCase{"[pools.p]\nwokers = 2\n", "test.toml:2: [pools.p] wokers: unknown key"},
        BadCase{"[supervisor]\nrestart_delay = \"-1s\"\n[pools.p]\n",
                "test.toml:2: [supervisor] restart_delay: invalid duration \"-1s\": must not be negative"},
        BadCase{"[supervisor]\nstartsecs = \"10\"\n[pools.p]\n",
                "test.toml:2: [supervisor] startsecs: invalid duration"},
        BadCase{"[supervisor]\nlog_level = \"loud\"\n[pools.p]\n", "test.toml:2: [supervisor] log_level"},
        BadCase{"[supervisor]\nsynchronous = \"fast\"\n[pools.p]\n",
                "test.toml:2: [supervisor] synchronous: must be \"normal\" or \"full\" (got \"fast\")"},
        BadCase{"[supervisor]\nspare = \"yes\"\n[pools.p]\n",
                "test.toml:2: [supervisor] spare: expected a boolean"},
        BadCase{"[supervisor]\nschema = \"Drover-1\"\n[pools.p]\n",
                "test.toml:2: [supervisor] schema: must be a plain SQL name"},
        BadCase{"[supervisor]\nnode = \"web/1\"\n[pools.p]\n",
                "test.toml:2: [supervisor] node: must be 1 to 63 letters, digits"},
        BadCase{"[supervisor]\nnode_timeout = \"1s\"\n[pools.p]\n",
                "test.toml:2: [supervisor] node_timeout: must be at least 2s"},
        BadCase{"[supervisor]\nlisten = 1\n[pools.p]\n",
                "test.toml:2: [supervisor] listen: expected a boolean"},
        BadCase{"[pools.p]\n[jobs.j]\ncommand = [\"/bin/true\"]\nstdin = \"json\"\n",
                "test.toml:4: [jobs.j] stdin: must be \"payload\" or \"envelope\""},
        BadCase{"[pools.p]\n[jobs.j]\nstdin = \"envelope\"\n",
                "[jobs.j] stdin: only applies to command jobs"},
        BadCase{"[pools.p]\nmax_memory = \"lots\"\n", "test.toml:2: [pools.p] max_memory: invalid size"},
        BadCase{"[pools.p]\nqueues = []\n", "test.toml:2: [pools.p] queues: must not be empty"},
        BadCase{"[pools.p]\n[jobs.j]\ncommand = []\n", "test.toml:3: [jobs.j] command: must not be empty"},
        BadCase{"[pools.p]\n[jobs.j]\nmax_attempts = 0\n", "[jobs.j] max_attempts: must be between 1"},
        BadCase{"[pools.p]\n[jobs.j]\npermanent_exit_codes = [0]\n", "[jobs.j] permanent_exit_codes"},
        BadCase{"[pools.p]\n[jobs.j]\nuser = \"x\"\n", "[jobs.j] user: only applies to command jobs"},
        BadCase{"[pools.p]\n[jobs.j]\ncommand = [\"/bin/true\"]\ngroup = \"nogroup\"\n",
                "test.toml:4: [jobs.j] group: needs `user` as well"},
        BadCase{"[supervisor]\nhang_timeout = \"200000000d\"\n[pools.p]\n",
                "test.toml:2: [supervisor] hang_timeout: invalid duration \"200000000d\": too large (at most "
                "36500d)"},
        BadCase{"[pools.p]\n[schedules.s]\njob = \"nope\"\nevery = \"1h\"\n",
                "[schedules.s] job: no [jobs.nope] is configured"},
        BadCase{"[pools.p]\n[jobs.j]\n[schedules.s]\njob = \"j\"\n",
                "[schedules.s] cron: give exactly one of `cron` or `every`"},
        BadCase{"[pools.p]\n[jobs.j]\n[schedules.s]\njob = \"j\"\ncron = \"0 3 * * *\"\ntimezone = "
                "\"Mars/Olympus\"\n",
                "[schedules.s] timezone: unknown time zone"},
        BadCase{"[pools.p]\n[jobs.j]\n[schedules.s]\njob = \"j\"\nevery = \"1h\"\ntimezone = \"UTC\"\n",
                "[schedules.s] timezone: only applies with `cron`"},
        BadCase{"[pools.p]\n[jobs.j]\n[schedules.s]\njob = \"j\"\ncron = \"0 25 * * *\"\n",
                "test.toml:5: [schedules.s] cron: hour field \"25\": 25 is out of range 0-23"},
        BadCase{"[pools.p]\n[jobs.j]\n[schedules.s]\njob = \"j\"\ncron = \"0 0 30 2 *\"\n",
                "[schedules.s] cron: \"0 0 30 2 *\" never fires"},
        BadCase{"[pools.p]\n[jobs.j]\n[schedules.s]\njob = \"j\"\nevery = \"1h\"\ncatch_up = \"some\"\n",
                "[schedules.s] catch_up"},
        BadCase{"[pools.p]\n[jobs.j]\n[schedules.s]\njob = \"j\"\nevery = \"1h\"\nanchor = \"yesterday\"\n",
                "[schedules.s] anchor: invalid time"},
        BadCase{"[supervisor]\n", "at least one pool is required"},
        BadCase{"[pools.p]\nworkers = 2\nworkers = 3\n", "test.toml:3:"},
        BadCase{"[pools.\"bad name!\"]\n", "[pools.bad name!]: invalid name"},
        BadCase{"[supervisor]\nrestart_delay = \"10s\"\nrestart_delay_max = \"1s\"\n[pools.p]\n",
                "restart_delay_max: must not be less than restart_delay"},
        BadCase{"[pools.p]\n[jobs.j]\nmax_running = 0\n",
                "test.toml:3: [jobs.j] max_running: must be between 1"},
        BadCase{"[pools.p]\n[jobs.j]\nmax_running_per_resource = -2\n",
                "test.toml:3: [jobs.j] max_running_per_resource: must be between 1"},
        BadCase{"[pools.p]\n[limits.smtp]\nmax_running = 5\n[jobs.j]\nlimit = \"smpt\"\n",
                "test.toml:5: [jobs.j] limit: no [limits.smpt] is configured (known: smtp)"},
        BadCase{"[pools.p]\n[limits.smtp]\n", "[limits.smtp] max_running: is required"},
        BadCase{"[pools.p]\n[limits.smtp]\nmax_running = 0\n", "test.toml:3: [limits.smtp] max_running"},
        BadCase{"[pools.p]\n[jobs.j]\n[schedules.s]\njob = \"j\"\nevery = \"1h\"\nresource = \"\"\n",
                "test.toml:6: [schedules.s] resource: must not be empty"},
        BadCase{"[pools.p]\n[http]\nlisten = \"localhost:9750\"\n",
                "test.toml:3: [http] listen: must be HOST:PORT with an IP address"},
        BadCase{"[pools.p]\n[http]\nlisten = \"127.0.0.1:70000\"\n", "test.toml:3: [http] listen"},
        BadCase{"[pools.p]\n[http]\nlisten = \"::1:9750\"\n", "test.toml:3: [http] listen"},
        BadCase{"[pools.p]\n[http]\nlisten = \"127.0.0.1:\"\n", "test.toml:3: [http] listen"},
        BadCase{"[pools.p]\n[http]\nlisten = \"127.0.0.1:9750\"\nauth = \"password:x\"\n",
                "test.toml:4: [http] auth: must be \"token-file:PATH\" or \"htpasswd:PATH\""},
        BadCase{"[pools.p]\n[http]\nread_only = 1\n", "test.toml:3: [http] read_only: expected a boolean"},
        BadCase{"[pools.p]\n[http]\nport = 1\n", "test.toml:3: [http] port: unknown key"},
        BadCase{"[pools.p]\n[http]\nhosts = [\"a.example:80\"]\n",
                "test.toml:3: [http] hosts: \"a.example:80\" is not a host name"},
        BadCase{"[pools.p]\n[http]\npublic_metrics = \"yes\"\n",
                "test.toml:3: [http] public_metrics: expected a boolean"}));

TEST(ConfigTest, SeveralHostsKeys) {
  Result<Config> c = ParseConfig(
      "[supervisor]\ndatabase = \"postgresql://app:s3cret@db.example/drover?password=x&sslmode=require\"\n"
      "node = \"web-1\"\nnode_timeout = \"20s\"\nlisten = false\npoll_interval = \"250ms\"\n[pools.p]\n",
      "/etc/drover/test.toml");
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  const SupervisorConfig& s = c->supervisor;
  EXPECT_EQ(s.database.substr(0, 13), "postgresql://") << "a URI is not a path to resolve";
  EXPECT_EQ(s.schema, "drover");
  EXPECT_EQ(s.node_timeout, Duration(20'000));
  EXPECT_FALSE(s.listen);
  EXPECT_EQ(s.poll_interval, Duration(250));
  EXPECT_EQ(WorkerIdPrefix(s), "web-1/");
  EXPECT_EQ(DatabaseForLog(s.database),
            "postgresql://app:***@db.example/drover?password=***&sslmode=require");
  Result<Config> local = ParseConfig("[pools.p]\n", "test.toml");
  ASSERT_TRUE(local.ok());
  EXPECT_EQ(WorkerIdPrefix(local->supervisor), "") << "SQLite: one host, no node in worker ids";
  char host[256] = {};
  gethostname(host, sizeof host - 1);
  EXPECT_EQ(local->supervisor.node, host);
  EXPECT_EQ(DatabaseForLog(local->supervisor.database), local->supervisor.database);
}

TEST(ConfigTest, HttpListenerAddressesAndAuthPaths) {
  Result<Config> c = ParseConfig(
      "[pools.p]\n[http]\nlisten = \"[::1]:9750\"\nauth = \"token-file:http-token\"\nread_only = true\n"
      "public_metrics = true\nhosts = [\"drover.example.org\"]\n",
      "/etc/drover/drover.toml");
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  EXPECT_EQ(c->http.listen, "[::1]:9750");
  EXPECT_EQ(c->http.auth, "token-file:/etc/drover/http-token");
  EXPECT_TRUE(c->http.read_only);
  EXPECT_TRUE(c->http.public_metrics);
  EXPECT_EQ(c->http.hosts, std::vector<std::string>{"drover.example.org"});
  Result<HostPort> hp = ParseListenAddress("[::1]:9750");
  ASSERT_TRUE(hp.ok());
  EXPECT_EQ(hp->host, "::1");
  EXPECT_EQ(hp->port, 9750);
  hp = ParseListenAddress("0.0.0.0:1");
  ASSERT_TRUE(hp.ok());
  EXPECT_EQ(hp->host, "0.0.0.0");
  EXPECT_EQ(ParseConfig("[pools.p]\n", "x.toml")->http.listen, "");  // off unless configured
}

TEST(ConfigTest, ReportsEveryErrorNotJustTheFirst) {
  Result<Config> c = ParseConfig("[pools.p]\nworkers = 0\nconcurrency = 0\nbogus = 1\n", "t.toml");
  ASSERT_FALSE(c.ok());
  const std::string& m = c.status().message();
  EXPECT_NE(m.find("t.toml:2:"), std::string::npos) << m;
  EXPECT_NE(m.find("t.toml:3:"), std::string::npos) << m;
  EXPECT_NE(m.find("t.toml:4:"), std::string::npos) << m;
}

TEST(ConfigTest, MissingFileNamesThePath) {
  Result<Config> c = LoadConfig("/nonexistent/drover.toml");
  ASSERT_FALSE(c.ok());
  EXPECT_NE(c.status().message().find("/nonexistent/drover.toml"), std::string::npos);
}

}  // namespace
TEST(ConfigTest, WarnsOfUnservedQueuesAndMissingPrograms) {
  TempDir dir;
  std::ofstream(dir.path() + "/data.txt") << "not a program\n";
  Result<Config> c = ParseConfig(R"(
[pools.web]
queues = ["web"]
[jobs.report]
queue = "reports"
command = ["/bin/true"]
[jobs.gone]
queue = "web"
command = ["/nonexistent/program"]
[jobs.data]
queue = "web"
command = ["data.txt"]
[jobs.handler]
queue = "web"
)",
                                 dir.path() + "/drover.toml");
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  std::vector<std::string> w = ConfigWarnings(*c);
  ASSERT_EQ(w.size(), 3u) << ::testing::PrintToString(w);
  EXPECT_EQ(w[0], "[jobs.data] command " + dir.path() + "/data.txt is not executable (Permission denied)");
  EXPECT_EQ(w[1], "[jobs.gone] command /nonexistent/program does not exist");
  EXPECT_EQ(
      w[2],
      "[jobs.report] queue \"reports\" is served by no pool: its jobs would wait until a pool lists it in "
      "`queues`");
  EXPECT_EQ(PoolsServing(*c, "web"), std::vector<std::string>{"web"});
  EXPECT_TRUE(PoolsServing(*c, "reports").empty());
}

TEST(ConfigTest, RunnersAndTheJobsThatNameThem) {
  TempDir dir;
  Result<Config> c = ParseConfig(R"(
[pools.default]
[runners.app]
command = ["bin/runner.py", "--serve"]
working_dir = "/srv/app"
env = { APP_ENV = "prod" }
user = "nobody"
max_jobs = 1000
max_memory = "256MiB"
max_age = "1h"
start_timeout = "10s"
[jobs.send_email]
runner = "app"
timeout = "30s"
)",
                                 dir.path() + "/drover.toml");
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  const RunnerConfig& r = c->runners.at("app");
  EXPECT_EQ(r.command, (std::vector<std::string>{dir.path() + "/bin/runner.py", "--serve"}));
  EXPECT_EQ(r.working_dir, "/srv/app");
  EXPECT_EQ(r.env.at("APP_ENV"), "prod");
  EXPECT_EQ(r.user, "nobody");
  EXPECT_EQ(r.max_jobs, 1000);
  EXPECT_EQ(r.max_memory, 256u << 20);
  EXPECT_EQ(r.max_age, Duration(3'600'000));
  EXPECT_EQ(r.start_timeout, Duration(10'000));
  const JobTypeConfig& j = c->jobs.at("send_email");
  EXPECT_TRUE(j.is_runner());
  EXPECT_FALSE(j.is_command());
  EXPECT_EQ(j.runner, "app");
}

// Without working_dir a runner starts in the config file's directory: its script's relative
// path works. Command jobs keep /.
TEST(ConfigTest, ARunnerStartsBesideTheConfigFileByDefault) {
  TempDir dir;
  Result<Config> c = ParseConfig(R"(
[pools.default]
[runners.app]
command = ["/usr/bin/python3", "runner.py"]
[jobs.send_email]
runner = "app"
[jobs.report]
command = ["/bin/true"]
)",
                                 dir.path() + "/./drover.toml");
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  EXPECT_EQ(c->runners.at("app").working_dir, dir.path());
  EXPECT_EQ(c->runners.at("app").command, (std::vector<std::string>{"/usr/bin/python3", "runner.py"}));
  EXPECT_EQ(c->jobs.at("report").working_dir, "");
}

TEST(ConfigTest, RunnerMistakesNameTheKey) {
  Result<Config> c = ParseConfig(R"(
[pools.default]
[runners.nocmd]
env = { A = "b" }
[runners.app]
command = ["/bin/app"]
start_timeout = "0s"
[jobs.both]
runner = "app"
command = ["/bin/true"]
[jobs.missing]
runner = "ghost"
[jobs.owned]
runner = "app"
user = "nobody"
)",
                                 "/etc/drover/drover.toml");
  ASSERT_FALSE(c.ok());
  const std::string& m = c.status().message();
  EXPECT_NE(m.find("[runners.nocmd] command: is required"), std::string::npos) << m;
  EXPECT_NE(m.find("[runners.app] start_timeout: must be positive"), std::string::npos) << m;
  EXPECT_NE(m.find("[jobs.both] runner: and `command` exclude each other"), std::string::npos) << m;
  EXPECT_NE(m.find("[jobs.missing] runner: no [runners.ghost] is configured (known: app, nocmd)"),
            std::string::npos)
      << m;
  EXPECT_NE(m.find("[jobs.owned] user: only applies to command jobs; set it on [runners.app]"),
            std::string::npos)
      << m;
}

}  // namespace drover
