// drover.enqueue (clients/python) against the PostgreSQL backend: psycopg 3 and psycopg2
// connections (Debian's python3-psycopg and python3-psycopg2), a server of the test's own, the
// job read back through the store and through drover.get and drover.jobs. The job types are
// stored as the scheduler stores them.
// (The sqlite3 path, with a real droverd, is tested by clients/python/tests.)
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "jobs/job_json.h"
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
  const std::vector<JobTypeDefaults> types = {{"send_email", "mail", 4, 1, false},
                                              {"sync", "default", 0, 5, false},
                                              {"digest", "default", 0, 5, true}};
  ASSERT_TRUE((*store)->SyncJobTypes(types).ok());

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
d = drover.enqueue(conn, "send_email", {}, schema=sys.argv[2])
k1 = drover.enqueue(conn, "digest", {"b": [1, "é"], "a": 0.5}, schema=sys.argv[2])
k2 = drover.enqueue(conn, "digest", {"a": 0.5, "b": [1, "é"]}, schema=sys.argv[2])
try:
    drover.enqueue(conn, "nope", {}, schema=sys.argv[2])
    raise SystemExit("an unknown type was accepted")
except drover.UnknownJobType:
    pass
conn.commit()  # the refused enqueue left the transaction usable
g = drover.get(conn, a, schema=sys.argv[2])
assert (g.queue, g.state, g.resource, g.payload, g.errors) == ("mail", "queued", "acct-1", {"to": "a@example.com"}, []), g
assert drover.get(conn, 10 ** 12, schema=sys.argv[2]) is None
listed = [j.id for j in drover.jobs(conn, type=["send_email", "sync"], state="queued", schema=sys.argv[2])]
assert listed == sorted([a, u1, d], reverse=True), listed
assert [j.id for j in drover.jobs(conn, resource="acct-1", queue=["mail", "x"], schema=sys.argv[2])] == [a]
assert [j.id for j in drover.jobs(conn, type="sync", cursor=u1, schema=sys.argv[2])] == []
# drover.wait on an autocommit connection: the end another connection commits wakes it.
import threading, time
waiter = driver.connect(sys.argv[1])
waiter.autocommit = True
try:
    drover.wait(waiter, d, timeout=0.2, schema=sys.argv[2])
    raise SystemExit("a queued job did not time out")
except TimeoutError:
    pass
def end():
    other = driver.connect(sys.argv[1])
    cur = other.cursor()
    cur.execute("UPDATE \"%s\".jobs SET state = %%s, finished_at = 1 WHERE id = %%s" % sys.argv[2], ("cancelled", d))
    other.commit()
    other.close()
threading.Timer(0.3, end).start()
started = time.monotonic()
w = drover.wait(waiter, d, timeout=20, schema=sys.argv[2])
# Woken by the notification, not by the re-read every 2 s.
assert w.state == "cancelled" and time.monotonic() - started < 1.9, (w, time.monotonic() - started)
try:
    drover.wait(conn, d, schema=sys.argv[2])
    raise SystemExit("a connection inside a transaction was taken")
except ValueError:
    pass
# The job actions, as the droverctl verbs act.
x = drover.enqueue(conn, "sync", {"x": 1}, unique_key="k-x", schema=sys.argv[2])
assert drover.cancel(conn, x, schema=sys.argv[2]) == "cancelled"
y = drover.enqueue(conn, "sync", {"x": 2}, unique_key="k-x", schema=sys.argv[2])
try:
    drover.retry(conn, x, schema=sys.argv[2])
    raise SystemExit("a retry took a held unique key")
except drover.StateError:
    pass
drover.delete(conn, y, schema=sys.argv[2])
drover.retry(conn, x, schema=sys.argv[2])
drover.reschedule(conn, x, 4102444800, schema=sys.argv[2])
conn.commit()
j = drover.get(conn, x, schema=sys.argv[2])
assert (j.state, j.attempts, j.run_at, drover.get(conn, y, schema=sys.argv[2])) == ("queued", 0, 4102444800, None), j
try:
    drover.cancel(conn, 10 ** 12, schema=sys.argv[2])
    raise SystemExit("no such job was cancelled")
except LookupError:
    conn.rollback()
print(a, b, u1, u2, d, k1, k2)
)";
  ShellResult r =
      RunShell("PYTHONPATH='" + std::string(DROVER_SOURCE_DIR) + "/clients/python' /usr/bin/python3 -c '" +
               script + "' '" + c.database + "' '" + c.schema + "' 2>&1");
  ASSERT_EQ(r.code, 0) << r.out;
  std::int64_t a = 0, b = 0, u1 = 0, u2 = 0, d = 0, k1 = 0, k2 = 0;
  ASSERT_EQ(sscanf(r.out.c_str(), "%ld %ld %ld %ld %ld %ld %ld", &a, &b, &u1, &u2, &d, &k1, &k2), 7) << r.out;
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
  // The type's defaults, and its uniqueness keyed as droverctl keys it.
  Result<Job> jd = (*store)->Get(d);
  ASSERT_TRUE(jd.ok());
  EXPECT_EQ(jd->queue, "mail");
  EXPECT_EQ(jd->priority, 4);
  EXPECT_EQ(jd->max_attempts, 1);
  EXPECT_EQ(k1, k2);
  Result<Job> jk = (*store)->Get(k1);
  ASSERT_TRUE(jk.ok());
  EXPECT_EQ(jk->unique_key, UniqueKeyFor("digest", R"({"a":0.5,"b":[1,"é"]})"));
}

}  // namespace
}  // namespace drover::testing
