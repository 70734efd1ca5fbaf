// The nodes of a PostgreSQL store (pg_nodes.cc): registration, heartbeats, the leader's lease
// and the rescue of a dead node's jobs, against a real server.
#include <gtest/gtest.h>

#include "common/pg.h"
#include "jobs/store/open_job_store.h"
#include "tests/pg/postgres_server.h"

namespace drover {
namespace {

constexpr std::int64_t kTimeoutMs = 15'000;

class PgNodesTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string error;
    testing::PostgresServer* server = testing::PostgresServer::Shared(&error);
    ASSERT_TRUE(server) << error;
    static int tests = 0;
    config_.database = server->Uri("tests");
    config_.schema = "nodes" + std::to_string(++tests);
    a_ = Open();
    b_ = Open();
    ASSERT_TRUE(a_ && b_);
  }
  std::unique_ptr<JobStore> Open() {
    Result<std::unique_ptr<JobStore>> s = OpenJobStore(config_);
    EXPECT_TRUE(s.ok()) << s.status().ToString();
    return s.ok() ? std::move(s).value() : nullptr;
  }
  static NodeInfo Node(const std::string& name, const std::string& host) {
    return {.name = name, .host = host, .pid = 100, .version = "0.1.0", .started_at_ms = 1, .workers = 2};
  }
  // Makes `node` look silent for `ms` more than it was.
  void Age(const std::string& node, std::int64_t ms) {
    Result<Pg> pg = Pg::Connect(config_.database, "SET search_path = " + config_.schema);
    ASSERT_TRUE(pg.ok());
    PgParams p;
    p.Add(ms).Add(node);
    ASSERT_TRUE(pg->Exec("UPDATE nodes SET heartbeat = heartbeat - $1::bigint WHERE name = $2", p).ok());
  }
  std::int64_t Add() {
    EnqueueRequest r;
    r.type = "t";
    return a_->Enqueue(r)->id;
  }

  StoreConfig config_;
  std::unique_ptr<JobStore> a_, b_;
};

TEST_F(PgNodesTest, ANameIsRefusedWhileALiveNodeElsewhereHoldsIt) {
  ASSERT_TRUE(a_->JoinNodes(Node("web-1", "host-a"), kTimeoutMs).ok());
  Status s = b_->JoinNodes(Node("web-1", "host-b"), kTimeoutMs);
  EXPECT_EQ(s.code(), Status::Code::kConflict);
  EXPECT_NE(s.message().find("node web-1 is alive on host host-a"), std::string::npos) << s.ToString();
  EXPECT_TRUE(b_->JoinNodes(Node("web-1", "host-a"), kTimeoutMs).ok()) << "the same host restarts it";
  // Stopped, or silent for node_timeout: the name is free.
  ASSERT_TRUE(a_->LeaveNodes("web-1").ok());
  EXPECT_TRUE(b_->JoinNodes(Node("web-1", "host-b"), kTimeoutMs).ok());
  Age("web-1", kTimeoutMs + 1000);
  EXPECT_TRUE(a_->JoinNodes(Node("web-1", "host-a"), kTimeoutMs).ok());
}

TEST_F(PgNodesTest, OneLeaderAtATimeUntilItLeavesOrGoesSilent) {
  ASSERT_TRUE(a_->JoinNodes(Node("n1", "h"), kTimeoutMs).ok());
  ASSERT_TRUE(b_->JoinNodes(Node("n2", "h"), kTimeoutMs).ok());
  EXPECT_TRUE(*a_->Heartbeat("n1", true, kTimeoutMs));
  EXPECT_FALSE(*b_->Heartbeat("n2", true, kTimeoutMs));
  EXPECT_TRUE(*a_->Heartbeat("n1", true, kTimeoutMs));
  ASSERT_TRUE(a_->LeaveNodes("n1").ok());
  EXPECT_TRUE(*b_->Heartbeat("n2", true, 200));  // a lease of 200 ms
  EXPECT_EQ(a_->Heartbeat("n1", true, kTimeoutMs).status().code(), Status::Code::kNotFound);
  // A leader that goes silent loses the lease after node_timeout.
  ASSERT_TRUE(a_->JoinNodes(Node("n1", "h"), kTimeoutMs).ok());
  EXPECT_FALSE(*a_->Heartbeat("n1", true, 200));  // n2's lease runs
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  EXPECT_TRUE(*a_->Heartbeat("n1", true, 200));
  Result<std::vector<NodeStatus>> nodes = b_->Nodes(kTimeoutMs);
  ASSERT_TRUE(nodes.ok());
  ASSERT_EQ(nodes->size(), 2u);
  EXPECT_TRUE((*nodes)[0].leader);
  EXPECT_FALSE((*nodes)[1].leader);
}

TEST_F(PgNodesTest, TheRescueTakesOnlyADeadNodesJobsAndSpendsTheAttempt) {
  ASSERT_TRUE(a_->JoinNodes(Node("n1", "h"), kTimeoutMs).ok());
  ASSERT_TRUE(b_->JoinNodes(Node("n2", "h"), kTimeoutMs).ok());
  std::int64_t j1 = Add(), j2 = Add(), held = Add();
  ASSERT_EQ(a_->Claim("n1/worker:default:0@7", {"default"}, 1)->size(), 1u);
  ASSERT_EQ(b_->Claim("n2/worker:default:0@8", {"default"}, 1)->size(), 1u);
  ASSERT_EQ(a_->CompleteAndClaim("n1/worker:default:0@7", {}, nullptr, {"default"}, 0, 1)->size(), 1u);
  EXPECT_TRUE(a_->RescueDeadNodes(0, kTimeoutMs)->empty()) << "both alive";
  Age("n1", kTimeoutMs + 1000);
  Result<std::vector<NodeStatus>> nodes = b_->Nodes(kTimeoutMs);
  ASSERT_TRUE(nodes.ok());
  EXPECT_FALSE((*nodes)[0].alive);
  EXPECT_EQ((*nodes)[0].running_jobs, 2);
  EXPECT_TRUE((*nodes)[1].alive);
  Result<std::vector<std::int64_t>> rescued = b_->RescueDeadNodes(0, kTimeoutMs);
  ASSERT_TRUE(rescued.ok()) << rescued.status().ToString();
  EXPECT_EQ(rescued->size(), 2u);
  Job started = *b_->Get(j1);
  EXPECT_EQ(started.state, JobState::kQueued);
  EXPECT_EQ(started.attempts, 1) << "the attempt that ran is spent";
  EXPECT_NE(started.last_error->find("node n1 went silent"), std::string::npos) << *started.last_error;
  Job never = *b_->Get(held);
  EXPECT_EQ(never.state, JobState::kQueued);
  EXPECT_EQ(never.attempts, 0) << "a held job never started";
  EXPECT_EQ(b_->Get(j2)->state, JobState::kRunning);
}

TEST_F(PgNodesTest, LeaseRenewalsKeepTheirNodeAlive) {
  ASSERT_TRUE(a_->JoinNodes(Node("n1", "h"), kTimeoutMs).ok());
  Add();
  ASSERT_EQ(a_->Claim("n1/worker:default:0@7", {"default"}, 1)->size(), 1u);
  Age("n1", kTimeoutMs + 1000);
  EXPECT_EQ(*a_->ExtendLeases("n1/worker:default:0@7"), 1);
  EXPECT_TRUE(b_->Nodes(kTimeoutMs)->front().alive);
  EXPECT_TRUE(b_->RescueDeadNodes(0, kTimeoutMs)->empty());
}

// A claim is proof of life too (the job fence counts on it: jobs/worker.cc), but only a claim
// that finds the heartbeat older than ClaimBeatSlack writes it.
TEST_F(PgNodesTest, ClaimsKeepTheirNodeAliveAndWriteItsRowOnlyPastTheSlack) {
  ASSERT_TRUE(a_->JoinNodes(Node("n1", "h"), kTimeoutMs).ok());
  const std::int64_t slack = ClaimBeatSlack(config_).count();
  ASSERT_EQ(slack, kTimeoutMs / 10);
  auto heartbeat = [&] { return b_->Nodes(kTimeoutMs)->front().heartbeat_ms; };
  for (bool limited : {false, true}) {
    SCOPED_TRACE(limited ? "under running limits" : "no limits");
    StoreConfig c = config_;
    if (limited) c.limits = {{.name = "[jobs.t] max_running", .types = {"t"}, .max_running = 10}};
    std::unique_ptr<JobStore> claimer = std::move(OpenJobStore(c)).value();
    Add();
    Age("n1", kTimeoutMs + 1000);
    ASSERT_FALSE(b_->Nodes(kTimeoutMs)->front().alive);
    ASSERT_EQ(claimer->Claim("n1/worker:default:0@7", {"default"}, 1)->size(), 1u);
    EXPECT_TRUE(b_->Nodes(kTimeoutMs)->front().alive);
    EXPECT_TRUE(b_->RescueDeadNodes(0, kTimeoutMs)->empty());
    Age("n1", slack / 2);
    const std::int64_t before = heartbeat();
    ASSERT_TRUE(claimer->Claim("n1/worker:default:0@7", {"default"}, 1).ok());
    EXPECT_EQ(heartbeat(), before) << "within the slack a claim leaves the row alone";
  }
}

TEST_F(PgNodesTest, ListenOffMeansNoWakeUpFd) {
  config_.listen = false;
  std::unique_ptr<JobStore> polling = Open();
  Result<std::unique_ptr<ChangeNotifier>> n = polling->WatchChanges();
  ASSERT_TRUE(n.ok());
  EXPECT_EQ((*n)->fd(), -1);
  Add();
  EXPECT_FALSE((*n)->Changed());
}

// A schema name goes into SQL and the NOTIFY channel unquoted in places: a store refuses one that
// is not a plain name, whoever sets it (the config checks it too).
TEST_F(PgNodesTest, ASchemaThatIsNotAPlainNameIsRefused) {
  for (const char* schema : {"x\"; DROP TABLE jobs; --", "Upper", "1st", "a b", ""}) {
    config_.schema = schema;
    Result<std::unique_ptr<JobStore>> s = OpenJobStore(config_);
    ASSERT_FALSE(s.ok()) << schema;
    EXPECT_NE(s.status().message().find("not a plain SQL name"), std::string::npos) << s.status().ToString();
  }
}

}  // namespace
}  // namespace drover
