// What only the SQLite backend does: its schema, migrations and the limits it holds plain SQL
// to (applications may enqueue with an INSERT), the triggers it refuses, and giving free pages
// back. Everything a backend must do is in job_store_conformance_test.cc.
#include "jobs/store/sqlite_store.h"

#include <gtest/gtest.h>

#include "common/sqlite.h"
#include "common/time_util.h"
#include "tests/temp_dir.h"

namespace drover {
namespace {

const std::vector<std::string> kDefault{"default"};

class SqliteStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    path_ = dir_.path() + "/jobs.db";
    store_ = Open();
  }
  std::unique_ptr<SqliteJobStore> Open() {
    Result<std::unique_ptr<SqliteJobStore>> s = SqliteJobStore::Open({.database = path_});
    EXPECT_TRUE(s.ok()) << s.status().ToString();
    return s.ok() ? std::move(s).value() : nullptr;
  }
  std::int64_t Add(EnqueueRequest r) {
    Result<EnqueueResult> e = store_->Enqueue(r);
    EXPECT_TRUE(e.ok()) << e.status().ToString();
    return e.ok() ? e->id : 0;
  }
  std::int64_t Add(const std::string& type) {
    EnqueueRequest r;
    r.type = type;
    return Add(r);
  }
  std::vector<ClaimedJob> ClaimN(int n) {
    Result<std::vector<ClaimedJob>> c = store_->Claim("w1", kDefault, n);
    EXPECT_TRUE(c.ok()) << c.status().ToString();
    return c.ok() ? *c : std::vector<ClaimedJob>{};
  }

  TempDir dir_;
  std::string path_;
  std::unique_ptr<SqliteJobStore> store_;
};

// Plain SQL must not get past the limits the API enforces: a huge payload took a worker to
// gigabytes, a huge checkpoint made every attempt fail with E2BIG.
TEST_F(SqliteStoreTest, PlainSqlIsHeldToThePayloadAndCheckpointLimits) {
  SqliteDb db = std::move(SqliteDb::Open(path_, SqliteOptions{})).value();
  std::string big = "'\"" + std::string(kMaxPayloadBytes, 'x') + "\"'";
  Status s = db.Exec("INSERT INTO jobs (type, payload) VALUES ('t', " + big + ")");
  EXPECT_FALSE(s.ok());
  EXPECT_NE(s.message().find("a payload is limited to 1 MiB"), std::string::npos) << s.ToString();
  std::int64_t id = Add("t");
  s = db.Exec("UPDATE jobs SET checkpoint = '" + std::string(65537, 'c') +
              "' WHERE id = " + std::to_string(id));
  EXPECT_FALSE(s.ok());
  EXPECT_TRUE(db.Exec("UPDATE jobs SET checkpoint = '" + std::string(65536, 'c') +
                      "' WHERE id = " + std::to_string(id))
                  .ok());
}

TEST_F(SqliteStoreTest, ATriggerDroverDidNotCreateIsRefused) {
  {
    SqliteDb db = std::move(SqliteDb::Open(path_, SqliteOptions{})).value();
    ASSERT_TRUE(db.Exec("CREATE TRIGGER sneaky AFTER UPDATE ON jobs BEGIN DELETE FROM jobs; END").ok());
  }
  store_.reset();
  Result<std::unique_ptr<SqliteJobStore>> s = SqliteJobStore::Open({.database = path_});
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.status().message().find("holds trigger \"sneaky\" on table jobs, which drover did not create"),
            std::string::npos)
      << s.status().ToString();
  EXPECT_NE(s.status().message().find("DROP TRIGGER sneaky"), std::string::npos);
}

// An application that keeps its tables in drover's file (to enqueue in its own transactions)
// may have views and triggers of its own, even ones that enqueue.
TEST_F(SqliteStoreTest, AnApplicationsOwnTablesViewsAndTriggersAreAccepted) {
  {
    SqliteDb db = std::move(SqliteDb::Open(path_, SqliteOptions{})).value();
    ASSERT_TRUE(
        db.Exec("CREATE TABLE orders (id INTEGER PRIMARY KEY, total INTEGER); "
                "CREATE VIEW big_orders AS SELECT * FROM orders WHERE total > 100; "
                "CREATE TRIGGER order_mail AFTER INSERT ON orders "
                "BEGIN INSERT INTO jobs (type, payload) VALUES ('mail', json_object('order', NEW.id)); END")
            .ok());
    ASSERT_TRUE(db.Exec("INSERT INTO orders (total) VALUES (120)").ok());
  }
  store_.reset();
  store_ = Open();
  ASSERT_NE(store_, nullptr);
  std::vector<ClaimedJob> c = ClaimN(1);
  ASSERT_EQ(c.size(), 1u);
  EXPECT_EQ(c[0].type, "mail");
}

TEST_F(SqliteStoreTest, PlainSqlInsertIsAValidEnqueue) {
  SqliteDb db = std::move(SqliteDb::Open(path_, SqliteOptions{})).value();
  ASSERT_TRUE(db.Exec("BEGIN; INSERT INTO jobs (type, payload) VALUES ('plain', '{\"x\":1}'); COMMIT;").ok());
  std::vector<ClaimedJob> c = ClaimN(1);
  ASSERT_EQ(c.size(), 1u);
  EXPECT_EQ(c[0].type, "plain");
  EXPECT_EQ(c[0].max_attempts, 5);
  EXPECT_NEAR(static_cast<double>(c[0].enqueued_at_ms), static_cast<double>(NowMs()), 5000.0);
  EXPECT_FALSE(db.Exec("INSERT INTO jobs (type, payload) VALUES ('plain', 'not json')").ok());
}

TEST_F(SqliteStoreTest, RefusesANewerSchema) {
  store_.reset();
  {
    SqliteDb db = std::move(SqliteDb::Open(path_, SqliteOptions{})).value();
    ASSERT_TRUE(db.Exec("PRAGMA user_version = 999").ok());
  }
  Result<std::unique_ptr<SqliteJobStore>> s = SqliteJobStore::Open({.database = path_});
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.status().message().find("upgrade drover"), std::string::npos) << s.status().message();
}

TEST_F(SqliteStoreTest, OlderSchemaIsMigratedForward) {
  {
    SqliteDb db = std::move(SqliteDb::Open(path_, SqliteOptions{})).value();
    // Back to version 1 as it was: no schedules, a global unique key, no triggers.
    ASSERT_TRUE(
        db.Exec("DROP TABLE schedules; DROP TRIGGER drover_jobs_limits_insert; "
                "DROP TRIGGER drover_jobs_checks_insert; DROP TRIGGER drover_jobs_checks_update; "
                "DROP TRIGGER drover_jobs_limits_update; DROP INDEX jobs_unique; "
                "CREATE UNIQUE INDEX jobs_unique ON jobs (unique_key) "
                "WHERE unique_key IS NOT NULL AND state IN ('queued', 'running'); "
                "DROP INDEX jobs_resource; ALTER TABLE jobs DROP COLUMN resource; DROP TABLE job_types; "
                "PRAGMA user_version=1")
            .ok());
  }
  store_ = Open();
  ASSERT_NE(store_, nullptr);
  EnqueueRequest r;
  r.type = "a";
  r.unique_key = "k";
  Add(r);
  r.type = "b";
  EXPECT_FALSE(store_->Enqueue(r)->duplicate);  // v3: scoped by type
  std::vector<ScheduleSeed> seeds{{"a", "every 1h", 1000}};
  EXPECT_TRUE(store_->SyncSchedules(seeds).ok());
  EXPECT_TRUE(store_->SyncJobTypes(std::vector<JobTypeDefaults>{{"a"}}).ok());  // v6
  SqliteDb db = std::move(SqliteDb::Open(path_, SqliteOptions{})).value();
  EXPECT_EQ(*db.PragmaInt("user_version"), CurrentSchemaVersion());
}

TEST_F(SqliteStoreTest, FreedPagesGoBackToTheFileSystem) {
  {
    SqliteDb db = std::move(SqliteDb::Open(path_, SqliteOptions{})).value();
    EXPECT_EQ(*db.PragmaInt("auto_vacuum"), 2);  // incremental
  }
  std::vector<EnqueueRequest> batch(5000);
  for (EnqueueRequest& r : batch) {
    r.type = "big";
    r.payload = "{\"pad\":\"" + std::string(400, 'x') + "\"}";
  }
  ASSERT_TRUE(store_->EnqueueBatch(batch).ok());
  ASSERT_TRUE(store_->Checkpoint(true).ok());
  SqliteDb db = std::move(SqliteDb::Open(path_, SqliteOptions{})).value();
  std::int64_t full = *db.PragmaInt("page_count");
  ASSERT_TRUE(db.Exec("DELETE FROM jobs").ok());
  EXPECT_EQ(*store_->ReleaseFreePages(100), 100);
  int released = 100;
  while (true) {
    int n = *store_->ReleaseFreePages(100);
    if (n == 0) break;
    released += n;
  }
  EXPECT_GT(released, full / 2);
  EXPECT_LT(*db.PragmaInt("page_count"), full / 2);
  EXPECT_EQ(*store_->ReleaseFreePages(100), 0);  // nothing left worth releasing
}

// Plain SQL cannot leave a row no worker will ever take or order: inserts are queued, priorities
// integers.
TEST_F(SqliteStoreTest, PlainSqlInsertsAreQueuedWithAnIntegerPriority) {
  SqliteDb db = std::move(SqliteDb::Open(path_, SqliteOptions{})).value();
  for (const char* bad : {"INSERT INTO jobs (type, priority) VALUES ('t', 'high')",
                          "INSERT INTO jobs (type, priority) VALUES ('t', 1.5)",
                          "INSERT INTO jobs (type, state) VALUES ('t', 'running')",
                          "INSERT INTO jobs (type, state) VALUES ('t', 'succeeded')"}) {
    Status s = db.Exec(bad);
    EXPECT_FALSE(s.ok()) << bad;
    EXPECT_NE(s.message().find("drover: a job is inserted queued, with an integer priority"),
              std::string::npos)
        << s.ToString();
  }
  ASSERT_TRUE(db.Exec("INSERT INTO jobs (type, priority) VALUES ('t', '5')").ok());  // "5" is 5
  EXPECT_EQ(ClaimN(1).at(0).priority, 5);
  std::int64_t id = Add("t");
  EXPECT_FALSE(db.Exec("UPDATE jobs SET priority = 'high' WHERE id = " + std::to_string(id)).ok());
  EXPECT_TRUE(db.Exec("UPDATE jobs SET priority = 7 WHERE id = " + std::to_string(id)).ok());
}

TEST_F(SqliteStoreTest, MigrationFromVersion3FixesPrioritiesAndAddsTheChecks) {
  std::int64_t kept = Add("t");
  store_.reset();
  {
    SqliteDb db = std::move(SqliteDb::Open(path_, SqliteOptions{})).value();
    // Back to version 3, with rows it let through.
    ASSERT_TRUE(
        db.Exec("DROP TRIGGER drover_jobs_checks_insert; DROP TRIGGER drover_jobs_checks_update; "
                "DROP INDEX jobs_resource; ALTER TABLE jobs DROP COLUMN resource; DROP TABLE job_types; "
                "PRAGMA user_version=3")
            .ok());
    ASSERT_TRUE(db.Exec("INSERT INTO jobs (type, priority) VALUES ('t', 'high'), ('t', '4')").ok());
  }
  store_ = Open();
  ASSERT_NE(store_, nullptr);
  SqliteDb db = std::move(SqliteDb::Open(path_, SqliteOptions{})).value();
  EXPECT_EQ(*db.PragmaInt("user_version"), CurrentSchemaVersion());
  Result<Statement> st = db.Prepare("SELECT count(*) FROM jobs WHERE typeof(priority) != 'integer'");
  ASSERT_TRUE(st.ok());
  ASSERT_TRUE(*st->Step());
  EXPECT_EQ(st->Int64(0), 0);
  st->Reset();  // ends its read transaction: this connection writes below
  std::vector<ClaimedJob> c = ClaimN(3);
  ASSERT_EQ(c.size(), 3u);
  EXPECT_EQ(c[0].priority, 4);  // "4" kept its value, "high" became 0
  EXPECT_EQ(c[1].id, kept);
  EXPECT_FALSE(db.Exec("INSERT INTO jobs (type, priority) VALUES ('t', 'high')").ok());
  // Version 5: every job has a resource column, NULL for the jobs that were there.
  EXPECT_FALSE(store_->Get(kept)->resource.has_value());
  EXPECT_FALSE(db.Exec("INSERT INTO jobs (type, resource) VALUES ('t', '')").ok());
  Status inserted = db.Exec("INSERT INTO jobs (type, resource) VALUES ('t', 'room-1')");
  ASSERT_TRUE(inserted.ok()) << inserted.ToString();
  JobFilter f;
  f.resources = {"room-1"};
  EXPECT_EQ(store_->List(f)->size(), 1u);
}

}  // namespace
}  // namespace drover
