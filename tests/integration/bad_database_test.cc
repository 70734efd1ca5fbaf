// droverd and droverctl against databases that cannot be used as they are: not a database, a
// missing directory, a newer schema, a file they may not write, one locked by another process,
// and a full disk. Each gives a clear error naming the file, a non-zero exit, and leaves the
// data as it was; once the cause is gone, work goes on.
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <fstream>

#include "common/sqlite.h"
#include "common/unique_fd.h"
#include "tests/integration/ctl.h"
#include "tests/integration/daemon.h"

namespace drover::testing {
namespace {

const char* kJobs = "[pools.default]\nworkers = 1\n[jobs.big]\ncommand = [\"/bin/true\"]\n";

ShellResult Droverd(const Daemon& d, const std::string& prefix = "") {
  return RunShell(prefix + DROVERD_PATH + " -c " + d.config() + " 2>&1");
}

TEST(BadDatabaseTest, NotADatabaseIsNamedAndLeftUntouched) {
  Daemon d(kJobs);
  std::string junk(8192, '\0');
  for (size_t i = 0; i < junk.size(); ++i) junk[i] = static_cast<char>(i * 7 + 3);
  std::ofstream(d.db(), std::ios::binary) << junk;
  ShellResult r = Droverd(d);
  EXPECT_EQ(r.code, 1);
  EXPECT_NE(r.out.find(d.db()), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("not a database"), std::string::npos) << r.out;
  ShellResult e = Ctl(d, "enqueue big");
  EXPECT_EQ(e.code, 1) << e.out;
  EXPECT_NE(e.out.find("not a database"), std::string::npos) << e.out;
  EXPECT_EQ(ReadFile(d.db()), junk);
}

TEST(BadDatabaseTest, MissingDirectoryIsNamed) {
  Daemon d(kJobs);
  d.RewriteConfig("[supervisor]\ndatabase = \"no/such/dir/drover.db\"\nsocket = \"drover.sock\"\n" +
                  std::string(kJobs));
  ShellResult r = Droverd(d);
  EXPECT_EQ(r.code, 1);
  EXPECT_NE(r.out.find(d.dir() + "/no/such/dir/drover.db"), std::string::npos) << r.out;
}

TEST(BadDatabaseTest, NewerSchemaIsRefusedByBoth) {
  Daemon d(kJobs);
  {
    SqliteDb db = std::move(SqliteDb::Open(d.db(), SqliteOptions{})).value();
    ASSERT_TRUE(db.Exec("CREATE TABLE jobs (id INTEGER PRIMARY KEY); PRAGMA user_version = 99").ok());
  }
  ShellResult r = Droverd(d);
  EXPECT_EQ(r.code, 1);
  EXPECT_NE(r.out.find("schema version 99"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("upgrade drover"), std::string::npos) << r.out;
  EXPECT_EQ(Ctl(d, "enqueue big").code, 1);
  SqliteDb db = std::move(SqliteDb::Open(d.db(), SqliteOptions{})).value();
  EXPECT_EQ(*db.PragmaInt("user_version"), 99);
}

TEST(BadDatabaseTest, ReadOnlyDatabaseIsAClearError) {
  Daemon d(kJobs);
  ASSERT_EQ(Ctl(d, "enqueue big").code, 0);  // creates the database
  std::string as_nobody;
  if (geteuid() == 0) {
    // root writes anything: run as nobody, who may create files in the directory but not
    // write the database file.
    chmod(d.dir().c_str(), 0777);
    as_nobody = "setpriv --reuid=65534 --regid=65534 --clear-groups ";
  }
  chmod(d.db().c_str(), 0444);
  std::string before = ReadFile(d.db());
  ShellResult e = Ctl(d, "enqueue big", "", as_nobody);
  EXPECT_EQ(e.code, 1) << e.out;
  EXPECT_NE(e.out.find(d.db()), std::string::npos) << e.out;
  EXPECT_NE(e.out.find("readonly"), std::string::npos) << e.out;
  ShellResult jobs = Ctl(d, "jobs --json", "", as_nobody);  // reading still works
  EXPECT_EQ(jobs.code, 0) << jobs.out;
  EXPECT_EQ(ReadFile(d.db()), before);
  chmod(d.db().c_str(), 0644);
  EXPECT_EQ(Ctl(d, "enqueue big").code, 0);
}

TEST(BadDatabaseTest, ALongLockIsReportedThenWorkResumes) {
  Daemon d(kJobs);
  ASSERT_EQ(Ctl(d, "enqueue big").code, 0);
  // Another process holds the write lock for longer than the busy timeout (5 s).
  Result<Pipe> locked = MakePipe(false);
  ASSERT_TRUE(locked.ok());
  pid_t holder = fork();
  if (holder == 0) {
    Result<SqliteDb> db = SqliteDb::Open(d.db(), SqliteOptions{});
    if (!db.ok() || !db->Exec("BEGIN EXCLUSIVE").ok()) _exit(1);
    (void)!write(locked->write.get(), "x", 1);
    sleep(8);
    _exit(0);
  }
  locked->write.Reset();
  char c;
  ASSERT_EQ(read(locked->read.get(), &c, 1), 1) << "the lock holder failed";
  ShellResult e = Ctl(d, "enqueue big");
  EXPECT_EQ(e.code, 1) << e.out;
  EXPECT_NE(e.out.find("locked"), std::string::npos) << e.out;
  EXPECT_NE(e.out.find(d.db()), std::string::npos) << e.out;
  int st = 0;
  waitpid(holder, &st, 0);
  EXPECT_TRUE(WIFEXITED(st) && WEXITSTATUS(st) == 0);
  EXPECT_EQ(Ctl(d, "enqueue big").code, 0);
  EXPECT_EQ(Ctl(d, "jobs --json").out.find("\"id\": 3"),
            std::string::npos);  // the refused one was not half-added
}

// A full disk: the database on a 512 KiB tmpfs in a private mount namespace.
TEST(BadDatabaseTest, AFullDiskRefusesNewJobsKeepsTheOldOnesAndRecovers) {
  if (geteuid() != 0 || RunShell("unshare -m true 2>&1").code != 0)
    GTEST_SKIP() << "needs root to mount a tmpfs";
  Daemon d(kJobs);
  const std::string small = d.dir() + "/small";
  mkdir(small.c_str(), 0755);
  d.RewriteConfig("[supervisor]\ndatabase = \"small/drover.db\"\nsocket = \"drover.sock\"\n" +
                  std::string(kJobs));
  std::ofstream(d.dir() + "/payload.json") << "{\"pad\":\"" << std::string(30'000, 'x') << "\"}";
  const std::string ctl = std::string(DROVERCTL_PATH) + " -c " + d.config();
  const std::string script = "set -u; mount -t tmpfs -o size=512k tmpfs " + small +
                             " || exit 90\n"
                             "n=0; while " +
                             ctl + " enqueue big @" + d.dir() + "/payload.json >/dev/null 2>" + d.dir() +
                             "/err; do\n"
                             "  n=$((n+1)); [ $n -lt 1000 ] || exit 91; done\n"
                             "echo accepted=$n; cat " +
                             d.dir() +
                             "/err\n"
                             "echo integrity=$(sqlite3 " +
                             small +
                             "/drover.db 'PRAGMA integrity_check')\n"
                             "echo count=$(sqlite3 " +
                             small +
                             "/drover.db 'SELECT count(*) FROM jobs')\n"
                             "mount -o remount,size=4m " +
                             small + "\n" + ctl + " enqueue big @" + d.dir() +
                             "/payload.json >/dev/null && echo recovered=yes\n"
                             "echo count_after=$(sqlite3 " +
                             small + "/drover.db 'SELECT count(*) FROM jobs')\n";
  std::ofstream(d.dir() + "/full.sh") << script;
  ShellResult r = RunShell("unshare -m sh " + d.dir() + "/full.sh 2>&1");
  ASSERT_EQ(r.code, 0) << r.out;
  int accepted = std::stoi(r.out.substr(r.out.find("accepted=") + 9));
  EXPECT_GT(accepted, 0) << r.out;
  EXPECT_NE(r.out.find("full"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("integrity=ok"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("count=" + std::to_string(accepted) + "\n"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("recovered=yes"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("count_after=" + std::to_string(accepted + 1) + "\n"), std::string::npos) << r.out;
}

}  // namespace
}  // namespace drover::testing
