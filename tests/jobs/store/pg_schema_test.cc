// The PostgreSQL schema (pg_schema.cc): a trigger drover did not create keeps every process from
// opening the store, against a real server.
#include <gtest/gtest.h>

#include "common/pg.h"
#include "jobs/store/open_job_store.h"
#include "tests/pg/postgres_server.h"

namespace drover {
namespace {

class PgSchemaTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string error;
    testing::PostgresServer* server = testing::PostgresServer::Shared(&error);
    ASSERT_TRUE(server) << error;
    static int tests = 0;
    config_.database = server->Uri("tests");
    config_.schema = "schema" + std::to_string(++tests);
    ASSERT_TRUE(OpenJobStore(config_).ok());  // creates the schema
    Result<Pg> pg = Pg::Connect(config_.database, "SET search_path = " + config_.schema);
    ASSERT_TRUE(pg.ok()) << pg.status().ToString();
    pg_.emplace(std::move(pg).value());
  }
  Status Sql(const std::string& script) { return pg_->ExecScript(script); }

  StoreConfig config_;
  std::optional<Pg> pg_;
};

TEST_F(PgSchemaTest, AForeignTriggerIsRefusedUntilDropped) {
  ASSERT_TRUE(Sql("CREATE FUNCTION spy() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RETURN NEW; END $$; "
                  "CREATE TRIGGER audit BEFORE UPDATE ON jobs FOR EACH ROW EXECUTE FUNCTION spy()")
                  .ok());
  Result<std::unique_ptr<JobStore>> s = OpenJobStore(config_);
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.status().code(), Status::Code::kCorruption);
  EXPECT_NE(s.status().message().find("trigger \"audit\" on table jobs"), std::string::npos)
      << s.status().ToString();
  EXPECT_NE(s.status().message().find("DROP TRIGGER \"audit\" ON \"" + config_.schema + "\".\"jobs\""),
            std::string::npos)
      << s.status().ToString();
  config_.read_only = true;  // droverctl's reads too
  EXPECT_FALSE(OpenJobStore(config_).ok());
  config_.read_only = false;

  ASSERT_TRUE(Sql("DROP TRIGGER audit ON jobs").ok());
  EXPECT_TRUE(OpenJobStore(config_).ok());
}

// One of drover's trigger names on another table is not drover's.
TEST_F(PgSchemaTest, DroversTriggerNamesCountOnTheirOwnTablesOnly) {
  ASSERT_TRUE(Sql("CREATE FUNCTION spy() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RETURN NEW; END $$; "
                  "CREATE TRIGGER drover_jobs_notify_update BEFORE UPDATE ON nodes "
                  "FOR EACH ROW EXECUTE FUNCTION spy()")
                  .ok());
  Result<std::unique_ptr<JobStore>> s = OpenJobStore(config_);
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.status().message().find("trigger \"drover_jobs_notify_update\" on table nodes"),
            std::string::npos)
      << s.status().ToString();
}

}  // namespace
}  // namespace drover
