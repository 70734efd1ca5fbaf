#include "jobs/store/sqlite_change_notifier.h"

#include <gtest/gtest.h>
#include <sys/ioctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fstream>
#include <optional>

#include "tests/readable.h"
#include "tests/temp_dir.h"

namespace drover {
namespace {

// A database with one table, and a notifier on it.
class SqliteChangeNotifierTest : public ::testing::Test {
 protected:
  void SetUp() override {
    Result<SqliteDb> opened = SqliteDb::Open(path, {});
    ASSERT_TRUE(opened.ok()) << opened.status().ToString();
    db.emplace(std::move(opened).value());
    ASSERT_TRUE(db->Exec("CREATE TABLE t (x INTEGER)").ok());
    Result<std::unique_ptr<ChangeNotifier>> created = SqliteChangeNotifier::Create(&*db, path);
    ASSERT_TRUE(created.ok()) << created.status().ToString();
    n = std::move(created).value();
  }

  TempDir dir;
  const std::string path = dir.path() + "/t.db";
  std::optional<SqliteDb> db;
  std::unique_ptr<ChangeNotifier> n;
};

// Another process's write transaction is seen as a commit in progress (its WAL write lock),
// until it ends; this process's own never is.
TEST_F(SqliteChangeNotifierTest, AnotherProcessesWriteIsACommitInProgress) {
  EXPECT_FALSE(n->CommitInProgress());
  ASSERT_TRUE(db->Exec("BEGIN IMMEDIATE").ok());
  EXPECT_FALSE(n->CommitInProgress());  // our own
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
  EXPECT_TRUE(n->CommitInProgress());
  EXPECT_FALSE(n->Changed());
  ASSERT_EQ(write(go[1], "x", 1), 1);
  int st = 0;
  ASSERT_EQ(waitpid(child, &st, 0), child);
  EXPECT_EQ(st, 0);
  EXPECT_FALSE(n->CommitInProgress());
  EXPECT_TRUE(n->Changed());
  for (int fd : {go[0], go[1], done[0], done[1]}) close(fd);
}

int Pending(int fd) {
  int n = 0;
  return ioctl(fd, FIONREAD, &n) == 0 ? n : -1;
}

// A commit's first write disarms the watch: its other writes, and the commits after it, queue
// nothing until Consume(). Any event counts (another file's may have disarmed the watch), and
// after Consume() the next commit is reported again.
TEST_F(SqliteChangeNotifierTest, OneEventPerConsumeAndNoneLost) {
  ChangeNotifier& watch = *n;
  Result<SqliteDb> other = SqliteDb::Open(path, {});
  ASSERT_TRUE(other.ok()) << other.status().ToString();

  std::ofstream(dir.path() + "/unrelated.log") << "x";
  ASSERT_TRUE(Readable(watch.fd(), 2000));
  const int one_event = Pending(watch.fd());
  ASSERT_GT(one_event, 0);
  ASSERT_TRUE(other->Exec("INSERT INTO t VALUES (1); INSERT INTO t VALUES (2)").ok());
  EXPECT_EQ(Pending(watch.fd()), one_event) << "a disarmed watch queued more events";
  EXPECT_TRUE(watch.Consume());
  EXPECT_TRUE(watch.Changed());  // the commits that came while it was disarmed
  EXPECT_FALSE(watch.Consume());

  ASSERT_TRUE(other->Exec("INSERT INTO t VALUES (3)").ok());
  ASSERT_TRUE(Readable(watch.fd(), 2000)) << "re-armed watch missed a commit";
  EXPECT_TRUE(watch.Consume());
  EXPECT_TRUE(watch.Changed());
  EXPECT_FALSE(watch.Changed());
}

}  // namespace
}  // namespace drover
