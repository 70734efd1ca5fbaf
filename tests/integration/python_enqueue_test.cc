// drover.enqueue (clients/python) against the PostgreSQL backend: psycopg 3 and psycopg2
// connections (Debian's python3-psycopg and python3-psycopg2), a server of the test's own, the
// job read back through the store. (The sqlite3 path is tested by clients/python/tests.)
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "jobs/store/open_job_store.h"
#include "tests/integration/daemon.h"
#include "tests/pg/postgres_server.h"

namespace drover::testing {
namespace {

class PythonEnqueueTest : public ::testing::TestWithParam<std::string> {};

INSTANTIATE_TEST_SUITE_P(Drivers, PythonEnqueueTest, ::testing::Values("psycopg", "psycopg2"));

TEST_P(PythonEnqueueTest, InsertsInTheCallersTransactionOnPostgres) {
  std::string error;
  PostgresServer* server = PostgresServer::Shared(&error);
  ASSERT_NE(server, nullptr) << error;
  StoreConfig c;
  c.database = server->Uri("tests");
  c.schema = "py_" + GetParam();
  Result<std::unique_ptr<JobStore>> store = OpenJobStore(c);  // creates the schema
  ASSERT_TRUE(store.ok()) << store.status().ToString();

  // Three jobs: one committed, one rolled back, and a unique key enqueued twice.
  std::string script = R"(
import sys
import )" + GetParam() +
                       R"( as driver
import drover
conn = driver.connect(sys.argv[1])
a = drover.enqueue(conn, "send_email", {"to": "a@example.com"}, queue="mail", priority=3, resource="acct-1",
                   max_attempts=2, schema=sys.argv[2])
conn.commit()
b = drover.enqueue(conn, "send_email", {}, schema=sys.argv[2])
conn.rollback()
u1 = drover.enqueue(conn, "sync", {"n": 1}, unique_key="user-7", delay=3600, schema=sys.argv[2])
u2 = drover.enqueue(conn, "sync", {"n": 2}, unique_key="user-7", schema=sys.argv[2])
conn.commit()
print(a, b, u1, u2)
)";
  ShellResult r =
      RunShell("PYTHONPATH='" + std::string(DROVER_SOURCE_DIR) + "/clients/python' /usr/bin/python3 -c '" +
               script + "' '" + c.database + "' '" + c.schema + "' 2>&1");
  ASSERT_EQ(r.code, 0) << r.out;
  std::int64_t a = 0, b = 0, u1 = 0, u2 = 0;
  ASSERT_EQ(sscanf(r.out.c_str(), "%ld %ld %ld %ld", &a, &b, &u1, &u2), 4) << r.out;
  Result<Job> ja = (*store)->Get(a);
  ASSERT_TRUE(ja.ok()) << ja.status().ToString();
  EXPECT_EQ(ja->type, "send_email");
  EXPECT_EQ(ja->queue, "mail");
  EXPECT_EQ(nlohmann::json::parse(ja->payload), nlohmann::json::parse(R"({"to":"a@example.com"})"));
  EXPECT_EQ(ja->priority, 3);
  EXPECT_EQ(ja->max_attempts, 2);
  EXPECT_EQ(ja->resource, "acct-1");
  EXPECT_EQ(ja->state, JobState::kQueued);
  EXPECT_FALSE((*store)->Get(b).ok());  // rolled back
  EXPECT_EQ(u1, u2);
  Result<Job> ju = (*store)->Get(u1);
  ASSERT_TRUE(ju.ok());
  EXPECT_EQ(ju->unique_key, "user-7");
  EXPECT_GT(ju->run_at_ms, NowMs() + 3'500'000);
}

}  // namespace
}  // namespace drover::testing
