// The PostgreSQL server the PostgreSQL backend's tests run against: started, reachable only on
// its own socket, a database per test, and gone after the test.
#include "tests/pg/postgres_server.h"

#include <gtest/gtest.h>

namespace drover::testing {
namespace {

std::string Query(PGconn* c, const char* sql) {
  PGresult* r = PQexec(c, sql);
  std::string v = PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) == 1 ? PQgetvalue(r, 0, 0) : "?";
  PQclear(r);
  return v;
}

TEST(PostgresServerTest, ServesADatabasePerTestOnItsOwnSocketOnly) {
  std::string error;
  std::unique_ptr<PostgresServer> pg = PostgresServer::Start(&error);
  ASSERT_TRUE(pg) << error;
  ASSERT_TRUE(pg->CreateDatabase("one", &error)) << error;
  ASSERT_FALSE(pg->CreateDatabase("one", &error));  // each test's database is new
  EXPECT_NE(error.find("already exists"), std::string::npos) << error;

  PGconn* c = PQconnectdb(pg->Uri("one").c_str());
  ASSERT_EQ(PQstatus(c), CONNECTION_OK) << PQerrorMessage(c);
  EXPECT_EQ(Query(c, "SELECT current_database()"), "one");
  EXPECT_EQ(Query(c, "SHOW server_version_num").substr(0, 2), "15");
  EXPECT_EQ(Query(c, "SHOW listen_addresses"), "");
  EXPECT_EQ(Query(c, "SHOW unix_socket_directories"), pg->socket_dir());
  PQfinish(c);
}

TEST(PostgresServerTest, StopsWhatItStarted) {
  std::string error;
  std::unique_ptr<PostgresServer> pg = PostgresServer::Start(&error);
  ASSERT_TRUE(pg) << error;
  pid_t pid = pg->pid();
  std::string dir = pg->socket_dir();
  ASSERT_TRUE(PostgresServer::Running(pid));
  pg.reset();
  EXPECT_FALSE(PostgresServer::Running(pid)) << "postgres " << pid << " still runs";
  struct stat st;
  EXPECT_NE(stat(dir.c_str(), &st), 0) << dir << " is left behind";
}

}  // namespace
}  // namespace drover::testing
