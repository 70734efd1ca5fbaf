#include "common/sqlite.h"

#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "tests/temp_dir.h"

namespace drover {
namespace {

TEST(SqliteDbTest, OpensInWalModeWithPragmas) {
  TempDir dir;
  Result<SqliteDb> db = SqliteDb::Open(dir.path() + "/t.db", SqliteOptions{});
  ASSERT_TRUE(db.ok()) << db.status().ToString();
  EXPECT_EQ(*db->PragmaInt("foreign_keys"), 1);
  EXPECT_EQ(*db->PragmaInt("synchronous"), 1);  // NORMAL
  Result<Statement> st = db->Prepare("PRAGMA journal_mode");
  ASSERT_TRUE(st.ok());
  ASSERT_TRUE(*st->Step());
  EXPECT_EQ(st->Text(0), "wal");
}

TEST(SqliteDbTest, SynchronousFullIsConfigurable) {
  TempDir dir;
  SqliteOptions o;
  o.synchronous_full = true;
  Result<SqliteDb> db = SqliteDb::Open(dir.path() + "/t.db", o);
  ASSERT_TRUE(db.ok());
  EXPECT_EQ(*db->PragmaInt("synchronous"), 2);
}

TEST(SqliteDbTest, NotADatabaseIsCorruptionNamingThePath) {
  TempDir dir;
  std::string path = dir.path() + "/junk.db";
  std::ofstream(path) << std::string(8192, 'x');
  Result<SqliteDb> db = SqliteDb::Open(path, SqliteOptions{});
  ASSERT_FALSE(db.ok());
  EXPECT_EQ(db.status().code(), Status::Code::kCorruption);
  EXPECT_NE(db.status().message().find(path), std::string::npos) << db.status().message();
}

TEST(SqliteDbTest, MissingDirectoryNamesThePath) {
  Result<SqliteDb> db = SqliteDb::Open("/nonexistent-drover-dir/x.db", SqliteOptions{});
  ASSERT_FALSE(db.ok());
  EXPECT_NE(db.status().message().find("/nonexistent-drover-dir/x.db"), std::string::npos);
  EXPECT_NE(db.status().message().find("directory"), std::string::npos) << db.status().message();
}

TEST(SqliteDbTest, StatementsAreCachedResetAndTyped) {
  TempDir dir;
  Result<SqliteDb> db = SqliteDb::Open(dir.path() + "/t.db", SqliteOptions{});
  ASSERT_TRUE(db.ok());
  ASSERT_TRUE(db->Exec("CREATE TABLE t (a INTEGER, b TEXT, c REAL)").ok());
  for (int i = 0; i < 3; ++i) {
    Result<Statement> ins = db->Prepare("INSERT INTO t VALUES (?1, ?2, ?3)");
    ASSERT_TRUE(ins.ok());
    ins->Bind(1, i).Bind(2, std::string("v") + std::to_string(i));
    if (i != 1) ins->Bind(3, 0.5 * i);
    ASSERT_TRUE(ins->Run().ok());  // bindings of the previous use must be cleared
  }
  Result<Statement> sel = db->Prepare("SELECT a, b, c FROM t ORDER BY a");
  ASSERT_TRUE(sel.ok());
  ASSERT_TRUE(*sel->Step());
  EXPECT_EQ(sel->Int64(0), 0);
  EXPECT_EQ(sel->Text(1), "v0");
  ASSERT_TRUE(*sel->Step());
  EXPECT_FALSE(sel->OptDouble(2).has_value());
  ASSERT_TRUE(*sel->Step());
  EXPECT_DOUBLE_EQ(*sel->OptDouble(2), 1.0);
  EXPECT_FALSE(*sel->Step());
}

TEST(SqliteDbTest, SyntaxErrorsCarrySqliteMessage) {
  TempDir dir;
  Result<SqliteDb> db = SqliteDb::Open(dir.path() + "/t.db", SqliteOptions{});
  ASSERT_TRUE(db.ok());
  Result<Statement> st = db->Prepare("SELEKT 1");
  ASSERT_FALSE(st.ok());
  EXPECT_NE(st.status().message().find("syntax error"), std::string::npos) << st.status().message();
}

TEST(TransactionTest, RollsBackUnlessCommitted) {
  TempDir dir;
  Result<SqliteDb> db = SqliteDb::Open(dir.path() + "/t.db", SqliteOptions{});
  ASSERT_TRUE(db.ok());
  ASSERT_TRUE(db->Exec("CREATE TABLE t (a INTEGER)").ok());
  {
    Result<Transaction> tx = Transaction::Begin(&*db);
    ASSERT_TRUE(tx.ok());
    ASSERT_TRUE(db->Exec("INSERT INTO t VALUES (1)").ok());
  }
  {
    Result<Transaction> tx = Transaction::Begin(&*db);
    ASSERT_TRUE(tx.ok());
    ASSERT_TRUE(db->Exec("INSERT INTO t VALUES (2)").ok());
    ASSERT_TRUE(tx->Commit().ok());
  }
  Result<Statement> st = db->Prepare("SELECT group_concat(a) FROM t");
  ASSERT_TRUE(*st->Step());
  EXPECT_EQ(st->Text(0), "2");
}

TEST(TransactionTest, LockHeldElsewhereGivesBusyAfterTimeout) {
  TempDir dir;
  std::string path = dir.path() + "/t.db";
  SqliteOptions o;
  o.busy_timeout_ms = 200;
  Result<SqliteDb> a = SqliteDb::Open(path, o);
  Result<SqliteDb> b = SqliteDb::Open(path, o);
  ASSERT_TRUE(a.ok() && b.ok());
  Result<Transaction> held = Transaction::Begin(&*a);
  ASSERT_TRUE(held.ok());
  Result<Transaction> blocked = Transaction::Begin(&*b);
  ASSERT_FALSE(blocked.ok());
  EXPECT_TRUE(blocked.status().IsBusy()) << blocked.status().ToString();
  EXPECT_GE(b->busy_wait_us(), 200'000);
}

TEST(TransactionTest, BusyHandlerWaitsForAShortLock) {
  TempDir dir;
  std::string path = dir.path() + "/t.db";
  { ASSERT_TRUE(SqliteDb::Open(path, SqliteOptions{}).ok()); }
  int go[2];
  ASSERT_EQ(pipe(go), 0);
  pid_t child = fork();
  if (child == 0) {
    Result<SqliteDb> db = SqliteDb::Open(path, SqliteOptions{});
    Result<Transaction> tx = Transaction::Begin(&*db);
    char c = 1;
    if (write(go[1], &c, 1) != 1) _exit(2);
    usleep(50'000);
    _exit(tx.ok() && tx->Commit().ok() ? 0 : 1);
  }
  char c;
  ASSERT_EQ(read(go[0], &c, 1), 1);
  Result<SqliteDb> db = SqliteDb::Open(path, SqliteOptions{});
  ASSERT_TRUE(db.ok()) << db.status().ToString();
  Result<Transaction> tx = Transaction::Begin(&*db);
  EXPECT_TRUE(tx.ok()) << tx.status().ToString();
  int status;
  waitpid(child, &status, 0);
  EXPECT_EQ(WEXITSTATUS(status), 0);
  close(go[0]);
  close(go[1]);
}

TEST(SqliteDbTest, MoveAssignmentClosesTheOldConnection) {
  TempDir dir;
  Result<SqliteDb> a = SqliteDb::Open(dir.path() + "/a.db", SqliteOptions{});
  Result<SqliteDb> b = SqliteDb::Open(dir.path() + "/b.db", SqliteOptions{});
  ASSERT_TRUE(a.ok() && b.ok());
  // Holding a write lock on a.db through `a`; after the move the lock must be gone.
  ASSERT_TRUE(a->Exec("CREATE TABLE t (x)").ok());
  Result<Transaction> tx = Transaction::Begin(&*a);
  ASSERT_TRUE(tx.ok());
  (void)tx->Commit();
  *a = std::move(*b);
  EXPECT_EQ(a->path(), dir.path() + "/b.db");
  SqliteOptions o;
  o.busy_timeout_ms = 50;
  Result<SqliteDb> c = SqliteDb::Open(dir.path() + "/a.db", o);
  ASSERT_TRUE(c.ok());
  EXPECT_TRUE(Transaction::Begin(&*c).ok());
}

}  // namespace
}  // namespace drover
