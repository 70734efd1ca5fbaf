#include "common/pg.h"

#include <gtest/gtest.h>

#include "tests/pg/postgres_server.h"

namespace drover {
namespace {

class PgTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string error;
    server_ = testing::PostgresServer::Shared(&error);
    ASSERT_TRUE(server_) << error;
    Result<Pg> pg = Pg::Connect(server_->Uri("tests"));
    ASSERT_TRUE(pg.ok()) << pg.status().ToString();
    pg_.emplace(std::move(pg).value());
    ASSERT_TRUE(
        pg_->ExecScript("DROP TABLE IF EXISTS t; CREATE TABLE t (k text PRIMARY KEY, n int CHECK (n > 0))")
            .ok());
  }
  std::int64_t Rows() { return pg_->Exec("SELECT count(*) FROM t")->Int64(0, 0); }

  testing::PostgresServer* server_ = nullptr;
  std::optional<Pg> pg_;
};

TEST_F(PgTest, ArraysAndNullsTravelAsText) {
  PgParams p;
  p.AddArray(std::vector<std::string>{"plain", "with \"quotes\"", "back\\slash", "{braces,comma}", ""})
      .Add(std::nullopt)
      .AddArray(std::vector<std::int64_t>{1, -2, 9007199254740993});
  Result<PgResult> r = pg_->Exec("SELECT x, $2::text IS NULL, $3::bigint[] FROM unnest($1::text[]) AS x", p);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  ASSERT_EQ(r->rows(), 5);
  EXPECT_EQ(r->Text(1, 0), "with \"quotes\"");
  EXPECT_EQ(r->Text(2, 0), "back\\slash");
  EXPECT_EQ(r->Text(3, 0), "{braces,comma}");
  EXPECT_EQ(r->Text(4, 0), "");
  EXPECT_TRUE(r->Bool(0, 1));
  EXPECT_EQ(r->Text(0, 2), "{1,-2,9007199254740993}");
  PgParams d;
  d.Add(0.1 + 0.2);
  EXPECT_EQ(pg_->Exec("SELECT $1::double precision", d)->Double(0, 0), 0.1 + 0.2);
}

TEST_F(PgTest, ErrorsNameTheirKind) {
  PgParams a;
  a.Add("a").Add(1);
  ASSERT_TRUE(pg_->Exec("INSERT INTO t VALUES ($1, $2)", a).ok());
  Result<PgResult> dup = pg_->Exec("INSERT INTO t VALUES ($1, $2)", a);
  EXPECT_EQ(dup.status().code(), Status::Code::kConflict) << dup.status().ToString();
  EXPECT_NE(dup.status().message().find("SQLSTATE 23505"), std::string::npos);
  PgParams bad;
  bad.Add("b").Add(-1);
  EXPECT_EQ(pg_->Exec("INSERT INTO t VALUES ($1, $2)", bad).status().code(), Status::Code::kInvalidArgument);
  Result<Pg> nowhere = Pg::Connect("postgresql:///tests?host=/nonexistent-dir");
  ASSERT_FALSE(nowhere.ok());
  EXPECT_EQ(nowhere.status().code(), Status::Code::kIoError);
  EXPECT_NE(nowhere.status().message().find("connect to PostgreSQL at /nonexistent-dir"), std::string::npos)
      << nowhere.status().ToString();
}

TEST_F(PgTest, AFailedBatchStopsThereAndRollsBack) {
  PgBatch b;
  b.Add("BEGIN");
  PgParams one, dup, two;
  one.Add("a").Add(1);
  dup.Add("a").Add(2);
  two.Add("c").Add(3);
  b.Add("INSERT INTO t VALUES ($1, $2)", std::move(one));
  b.Add("INSERT INTO t VALUES ($1, $2)", std::move(dup));
  b.Add("INSERT INTO t VALUES ($1, $2)", std::move(two));
  b.Add("COMMIT");
  Result<std::vector<PgResult>> r = pg_->Run(b);
  EXPECT_EQ(r.status().code(), Status::Code::kConflict) << r.status().ToString();
  EXPECT_EQ(Rows(), 0);  // and the connection is usable again
  EXPECT_EQ(PQtransactionStatus(pg_->handle()), PQTRANS_IDLE);
}

TEST_F(PgTest, ALostConnectionFailsATransactionAndComesBackAfter) {
  Result<PgTransaction> tx = PgTransaction::Begin(&*pg_);
  ASSERT_TRUE(tx.ok());
  PgParams a;
  a.Add("a").Add(1);
  ASSERT_TRUE(pg_->Exec("INSERT INTO t VALUES ($1, $2)", a).ok());
  Result<Pg> other = Pg::Connect(server_->Uri("tests"));
  ASSERT_TRUE(other.ok());
  PgParams pid;
  pid.Add(static_cast<std::int64_t>(PQbackendPID(pg_->handle())));
  ASSERT_TRUE(other->Exec("SELECT pg_terminate_backend($1::int)", pid).ok());
  // Inside the transaction nothing may run on a new session: the insert would stand alone.
  PgParams b;
  b.Add("b").Add(2);
  EXPECT_FALSE(pg_->Exec("INSERT INTO t VALUES ($1, $2)", b).ok());
  EXPECT_EQ(tx->Commit().code(), Status::Code::kIoError);
  // Outside one, the next statement reconnects.
  const int generation = pg_->generation();
  EXPECT_TRUE(pg_->Exec("INSERT INTO t VALUES ($1, $2)", b).ok());
  EXPECT_EQ(pg_->generation(), generation + 1);
  EXPECT_EQ(Rows(), 1);
}

}  // namespace
}  // namespace drover
