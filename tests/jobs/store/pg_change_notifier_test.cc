// LISTEN/NOTIFY wake-ups of the PostgreSQL store across a lost connection.
#include "jobs/store/pg_change_notifier.h"

#include <gtest/gtest.h>

#include "jobs/store/open_job_store.h"
#include "tests/pg/postgres_server.h"
#include "tests/readable.h"

namespace drover {
namespace {

TEST(PgChangeNotifierTest, ListensAgainAfterTheConnectionIsLost) {
  std::string error;
  testing::PostgresServer* server = testing::PostgresServer::Shared(&error);
  ASSERT_TRUE(server) << error;
  StoreConfig c{.database = server->Uri("tests"), .schema = "notifier"};
  std::unique_ptr<JobStore> store = std::move(OpenJobStore(c)).value();
  std::unique_ptr<JobStore> other = std::move(OpenJobStore(c)).value();
  std::unique_ptr<ChangeNotifier> n = std::move(store->WatchChanges()).value();
  EXPECT_FALSE(n->FdReplaced());
  // Every session of the store's process goes; the next statement reconnects.
  Result<Pg> admin = Pg::Connect(server->Uri("tests"));
  ASSERT_TRUE(admin.ok());
  ASSERT_TRUE(admin
                  ->ExecScript("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE "
                               "backend_type = 'client backend' AND pid <> pg_backend_pid()")
                  .ok());
  EnqueueRequest r;
  r.type = "t";
  EXPECT_FALSE(store->Enqueue(r).ok()) << "the statement that finds the connection gone fails";
  ASSERT_TRUE(store->Enqueue(r).ok());
  EXPECT_TRUE(n->Consume()) << "what was sent while away is lost: a change";
  EXPECT_TRUE(n->Changed());
  EXPECT_TRUE(n->FdReplaced());
  EXPECT_FALSE(n->FdReplaced());
  ASSERT_FALSE(other->Enqueue(r).ok());  // its session was terminated too
  ASSERT_TRUE(other->Enqueue(r).ok());
  EXPECT_TRUE(Readable(n->fd(), 5000)) << "the new session listens";
  EXPECT_TRUE(n->Consume());
  EXPECT_TRUE(n->Changed());
}

}  // namespace
}  // namespace drover
