// etc/postgresql/roles.sql against a real server: an application holding drover_enqueue enqueues
// through drover.enqueue (psycopg) and can do nothing else; drover_operator changes jobs, queues
// and schedules but neither nodes nor the leader lease; no role given by the file can add a
// trigger to drover's tables.
#include <gtest/gtest.h>

#include "common/pg.h"
#include "jobs/store/open_job_store.h"
#include "tests/integration/daemon.h"
#include "tests/pg/postgres_server.h"

namespace drover::testing {
namespace {

class PgRolesTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string error;
    server_ = PostgresServer::Shared(&error);
    ASSERT_NE(server_, nullptr) << error;
    config_.database = server_->Uri("tests");
    config_.schema = "roles";
    Result<std::unique_ptr<JobStore>> store = OpenJobStore(config_);  // the owner creates the schema
    ASSERT_TRUE(store.ok()) << store.status().ToString();
    store_ = std::move(store).value();
    for (int run = 0; run < 2; ++run) {  // it can be run again (after an upgrade)
      ShellResult r = RunShell("psql -X -q -v schema=roles -f '" + std::string(DROVER_SOURCE_DIR) +
                               "/etc/postgresql/roles.sql' '" + config_.database + "' 2>&1");
      ASSERT_EQ(r.code, 0) << r.out;
    }
    Result<Pg> owner = Pg::Connect(config_.database);
    ASSERT_TRUE(owner.ok());
    ASSERT_TRUE(owner
                    ->ExecScript("DO $$ BEGIN "
                                 "IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'shop_web') THEN "
                                 "  CREATE ROLE shop_web LOGIN IN ROLE drover_enqueue; END IF; "
                                 "IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'ops') THEN "
                                 "  CREATE ROLE ops LOGIN IN ROLE drover_operator; END IF; END $$")
                    .ok());
  }
  std::string UriAs(const std::string& role) const {
    std::string uri = config_.database;
    return uri.replace(uri.find("user=") + 5, std::string::npos, role);
  }
  // Runs `sql` as `role`: "" when it succeeds, else the server's error.
  std::string As(const std::string& role, const std::string& sql) {
    Result<Pg> pg = Pg::Connect(UriAs(role), "SET search_path = roles");
    if (!pg.ok()) return pg.status().ToString();
    Status s = pg->ExecScript(sql);
    return s.ok() ? "" : s.ToString();
  }

  PostgresServer* server_ = nullptr;
  StoreConfig config_;
  std::unique_ptr<JobStore> store_;
};

TEST_F(PgRolesTest, AnEnqueuerEnqueuesAndDoesNothingElse) {
  // As the scheduler stores them; the enqueuer reads them for the types' defaults.
  ASSERT_TRUE(store_->SyncJobTypes(std::vector<JobTypeDefaults>{{"send_email"}, {"sync"}}).ok());
  const std::string script = R"(
import sys
import psycopg
import drover
conn = psycopg.connect(sys.argv[1])
a = drover.enqueue(conn, "send_email", {"to": "a@example.com"}, queue="mail", priority=3, schema="roles")
u1 = drover.enqueue(conn, "sync", {}, unique_key="user-7", delay=3600, max_attempts=2, schema="roles")
u2 = drover.enqueue(conn, "sync", {}, unique_key="user-7", schema="roles")
conn.commit()
print(a, u1, u2)
)";
  ShellResult r =
      RunShell("PYTHONPATH='" + std::string(DROVER_SOURCE_DIR) + "/clients/python' /usr/bin/python3 -c '" +
               script + "' '" + UriAs("shop_web") + "' 2>&1");
  ASSERT_EQ(r.code, 0) << r.out;
  std::int64_t a = 0, u1 = 0, u2 = 0;
  ASSERT_EQ(sscanf(r.out.c_str(), "%ld %ld %ld", &a, &u1, &u2), 3) << r.out;
  EXPECT_EQ(u1, u2) << "the unique key's job is found";
  EXPECT_EQ(store_->Get(a)->queue, "mail");

  const std::string id = std::to_string(a);
  for (const std::string& sql : std::vector<std::string>{
           "SELECT payload FROM jobs",
           "SELECT result FROM jobs WHERE id = " + id,
           "UPDATE jobs SET priority = 9 WHERE id = " + id,
           "DELETE FROM jobs WHERE id = " + id,
           "INSERT INTO jobs (type, worker) VALUES ('x', 'n1/w@1')",
           "UPDATE nodes SET heartbeat = 0",
           "INSERT INTO leader (node, until) VALUES ('intruder', 9000000000000)",
           "UPDATE schedules SET next_run = 10413792000000",
           "INSERT INTO queues (name, paused) VALUES ('mail', true)",
           "UPDATE job_types SET max_attempts = 99",
           "CREATE TRIGGER t BEFORE INSERT ON jobs FOR EACH ROW EXECUTE FUNCTION jobs_notify()",
       }) {
    EXPECT_NE(As("shop_web", sql).find("permission denied"), std::string::npos) << sql;
  }
  // The documented plain-SQL enqueue, with the type's defaults.
  EXPECT_EQ(As("shop_web",
               "INSERT INTO jobs (type, payload, queue, priority, max_attempts) "
               "SELECT type, '{}', queue, priority, max_attempts FROM job_types WHERE type = 'send_email'"),
            "");
  EXPECT_EQ(store_->Get(a)->priority, 3);
}

TEST_F(PgRolesTest, AnOperatorChangesJobsQueuesAndSchedulesButNotNodesOrTheLeader) {
  EnqueueRequest req;
  req.type = "report";
  const std::string id = std::to_string(store_->Enqueue(req)->id);
  EXPECT_EQ(As("ops", "SELECT payload, result, errors FROM jobs"), "");
  EXPECT_EQ(As("ops", "UPDATE jobs SET cancel_requested = true WHERE id = " + id), "");
  EXPECT_EQ(As("ops",
               "INSERT INTO queues (name, paused) VALUES ('mail', true) "
               "ON CONFLICT (name) DO UPDATE SET paused = excluded.paused"),
            "");
  EXPECT_EQ(As("ops", "UPDATE schedules SET paused = true"), "");
  EXPECT_EQ(As("ops", "INSERT INTO jobs (type) VALUES ('report')"), "");
  for (const char* sql : {
           "UPDATE nodes SET heartbeat = 0",
           "DELETE FROM nodes",
           "DELETE FROM job_types",
           "INSERT INTO leader (node, until) VALUES ('intruder', 9000000000000)",
           "CREATE TRIGGER t BEFORE INSERT ON jobs FOR EACH ROW EXECUTE FUNCTION jobs_notify()",
       }) {
    EXPECT_NE(As("ops", sql).find("permission denied"), std::string::npos) << sql;
  }
}

}  // namespace
}  // namespace drover::testing
