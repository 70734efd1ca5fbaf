#include "jobs/store/sqlite_change_notifier.h"

#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include "tests/temp_dir.h"

namespace drover {
namespace {

// Another process's write transaction is seen as a commit in progress (its WAL write lock),
// until it ends; this process's own never is.
TEST(SqliteChangeNotifierTest, AnotherProcessesWriteIsACommitInProgress) {
  TempDir dir;
  std::string path = dir.path() + "/t.db";
  Result<SqliteDb> db = SqliteDb::Open(path, {});
  ASSERT_TRUE(db.ok()) << db.status().ToString();
  ASSERT_TRUE(db->Exec("CREATE TABLE t (x INTEGER)").ok());
  Result<std::unique_ptr<ChangeNotifier>> n = SqliteChangeNotifier::Create(&*db, path);
  ASSERT_TRUE(n.ok()) << n.status().ToString();
  EXPECT_FALSE((*n)->CommitInProgress());
  ASSERT_TRUE(db->Exec("BEGIN IMMEDIATE").ok());
  EXPECT_FALSE((*n)->CommitInProgress());  // our own
  ASSERT_TRUE(db->Exec("COMMIT").ok());

  int go[2], done[2];
  ASSERT_EQ(pipe(go), 0);
  ASSERT_EQ(pipe(done), 0);
  pid_t child = fork();
  if (child == 0) {
    Result<SqliteDb> other = SqliteDb::Open(path, {});
    char c = 0;
    if (!other.ok() || !other->Exec("BEGIN IMMEDIATE").ok() || !other->Exec("INSERT INTO t VALUES (1)").ok())
      _exit(1);
    if (write(done[1], "x", 1) != 1 || read(go[0], &c, 1) != 1) _exit(1);
    _exit(other->Exec("COMMIT").ok() ? 0 : 1);
  }
  char c = 0;
  ASSERT_EQ(read(done[0], &c, 1), 1);
  EXPECT_TRUE((*n)->CommitInProgress());
  EXPECT_FALSE((*n)->Changed());
  ASSERT_EQ(write(go[1], "x", 1), 1);
  int st = 0;
  ASSERT_EQ(waitpid(child, &st, 0), child);
  EXPECT_EQ(st, 0);
  EXPECT_FALSE((*n)->CommitInProgress());
  EXPECT_TRUE((*n)->Changed());
  for (int fd : {go[0], go[1], done[0], done[1]}) close(fd);
}

}  // namespace
}  // namespace drover
