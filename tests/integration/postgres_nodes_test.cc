// Several droverd nodes on one PostgreSQL database (DESIGN.md §10): the real binaries against a
// PostgreSQL server of the test's own, whole nodes killed with kill -9, the job table checked
// afterwards.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <map>
#include <random>
#include <set>
#include <sstream>
#include <thread>

#include "jobs/commit_watch.h"
#include "tests/integration/daemon.h"
#include "tests/pg/postgres_server.h"

namespace drover::testing {
namespace {

using Clock = std::chrono::steady_clock;
using namespace std::string_literals;

constexpr int kNodeTimeoutMs = 3000;

class PostgresNodesTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string error;
    server_ = PostgresServer::Start(&error);
    ASSERT_TRUE(server_) << error;
    ASSERT_TRUE(server_->CreateDatabase("drover", &error)) << error;
    std::filesystem::create_directories(dir_.path() + "/locks");
  }

  std::string Uri() const { return server_->Uri("drover"); }

  // A node running the chaos job (tests/integration/chaos_job.cc: it logs each attempt and
  // notices a second copy of a job running at the same time).
  std::unique_ptr<Daemon> Node(const std::string& name, const std::string& extra_body = "",
                               const std::string& uri = "") {
    std::string body = "[pools.default]\nworkers = 2\nconcurrency = 4\n\n[jobs.chaos]\ncommand = [\"" +
                       std::string(CHAOS_JOB_PATH) + "\", \"" + dir_.path() + "/runs.log\", \"" +
                       dir_.path() + "/locks\"]\nmax_attempts = 10\n" + extra_body;
    return std::make_unique<Daemon>(body,
                                    "node = \"" + name + "\"\nnode_timeout = \"" +
                                        std::to_string(kNodeTimeoutMs / 1000) +
                                        "s\"\nrestart_delay = \"100ms\"\n",
                                    DROVERD_PATH, uri.empty() ? Uri() : uri);
  }

  std::unique_ptr<JobStore> Store() {
    Result<std::unique_ptr<JobStore>> s = OpenJobStore({.database = Uri()});
    EXPECT_TRUE(s.ok()) << s.status().ToString();
    return s.ok() ? std::move(s).value() : nullptr;
  }

  std::vector<std::int64_t> EnqueueChaos(JobStore* store, int n, int ms) {
    std::vector<EnqueueRequest> reqs(n);
    for (EnqueueRequest& r : reqs) {
      r.type = "chaos";
      r.payload = "{\"ms\": " + std::to_string(ms) + "}";
      r.max_attempts = 10;
    }
    Result<std::vector<EnqueueResult>> e = store->EnqueueBatch(reqs);
    EXPECT_TRUE(e.ok()) << e.status().ToString();
    std::vector<std::int64_t> ids;
    if (e.ok())
      for (const EnqueueResult& r : *e) ids.push_back(r.id);
    return ids;
  }

  // Lines of the chaos log of one kind ("start", "end", "overlap").
  int Logged(const std::string& kind) {
    std::ifstream in(dir_.path() + "/runs.log");
    int n = 0;
    for (std::string line; std::getline(in, line);) n += line.rfind(kind + " ", 0) == 0;
    return n;
  }

  std::string Droverctl(const Daemon& d, const std::string& args) {
    std::string cmd = std::string(DROVERCTL_PATH) + " -c " + d.config() + " " + args + " 2>&1";
    FILE* p = popen(cmd.c_str(), "r");
    std::string out;
    char buf[4096];
    while (p && fgets(buf, sizeof buf, p)) out += buf;
    if (p) pclose(p);
    return out;
  }

  std::unique_ptr<PostgresServer> server_;
  TempDir dir_;
};

// A relay between PostgreSQL's socket and one of its own (in `dir`), which a test can freeze:
// then it passes nothing either way and accepts nothing, while every connection stays open, as
// when a network partition cuts a node off its database.
class FreezableRelay {
 public:
  FreezableRelay(const std::string& server_dir, const std::string& dir)
      : server_(server_dir + "/.s.PGSQL.5432"), dir_(dir) {
    std::filesystem::create_directories(dir);
    listen_.Reset(socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
    sockaddr_un a = Address(dir + "/.s.PGSQL.5432");
    if (bind(listen_.get(), reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 || listen(listen_.get(), 64) != 0)
      listen_.Reset();
    thread_ = std::thread([this] { Run(); });
  }
  ~FreezableRelay() {
    stop_ = true;
    thread_.join();
  }
  bool ok() const { return static_cast<bool>(listen_); }
  const std::string& dir() const { return dir_; }
  void Freeze() { frozen_ = true; }
  void Thaw() { frozen_ = false; }

 private:
  // MSG_NOSIGNAL: a node killed mid-write closes its end, which must not SIGPIPE the test.
  static bool SendAll(int fd, const char* p, size_t n) {
    while (n > 0) {
      ssize_t w = send(fd, p, n, MSG_NOSIGNAL);
      if (w < 0 && errno == EINTR) continue;
      if (w <= 0) return false;
      p += w;
      n -= static_cast<size_t>(w);
    }
    return true;
  }

  static sockaddr_un Address(const std::string& path) {
    sockaddr_un a{};
    a.sun_family = AF_UNIX;
    snprintf(a.sun_path, sizeof a.sun_path, "%s", path.c_str());
    return a;
  }

  void Run() {
    std::vector<std::pair<UniqueFd, UniqueFd>> pairs;  // (client, server)
    while (!stop_) {
      if (frozen_) {
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
        continue;
      }
      std::vector<pollfd> p{{listen_.get(), POLLIN, 0}};
      for (auto& [c, s] : pairs) {
        p.push_back({c.get(), POLLIN, 0});
        p.push_back({s.get(), POLLIN, 0});
      }
      if (poll(p.data(), p.size(), 10) <= 0) continue;
      if (p[0].revents & POLLIN) {
        UniqueFd client(accept4(listen_.get(), nullptr, nullptr, SOCK_CLOEXEC));
        UniqueFd server(socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
        sockaddr_un a = Address(server_);
        if (client && server && connect(server.get(), reinterpret_cast<sockaddr*>(&a), sizeof a) == 0)
          pairs.emplace_back(std::move(client), std::move(server));
      }
      std::vector<bool> closed(pairs.size());
      for (size_t i = 0; i < pairs.size() && !frozen_; ++i) {
        for (int side = 0; side < 2; ++side) {
          if (!(p[1 + 2 * i + side].revents & (POLLIN | POLLHUP))) continue;
          int from = side == 0 ? pairs[i].first.get() : pairs[i].second.get();
          int to = side == 0 ? pairs[i].second.get() : pairs[i].first.get();
          char buf[65536];
          ssize_t n = read(from, buf, sizeof buf);
          if (n <= 0 || !SendAll(to, buf, static_cast<size_t>(n))) closed[i] = true;
        }
      }
      for (size_t i = pairs.size(); i-- > 0;) {
        if (closed[i]) pairs.erase(pairs.begin() + static_cast<std::ptrdiff_t>(i));
      }
    }
  }

  std::string server_, dir_;
  UniqueFd listen_;
  std::atomic<bool> frozen_{false}, stop_{false};
  std::thread thread_;
};

std::string NodeOf(const Job& j) { return j.worker ? j.worker->substr(0, j.worker->find('/')) : ""; }

TEST_F(PostgresNodesTest, ThreeNodesShareTheLoadAndADeadNodesJobsRunElsewhere) {
  std::vector<std::unique_ptr<Daemon>> nodes;
  for (const char* name : {"n1", "n2", "n3"}) {
    nodes.push_back(Node(name));
    ASSERT_TRUE(nodes.back()->Start()) << nodes.back()->Log();
  }
  auto store = Store();
  ASSERT_TRUE(store);
  std::vector<std::int64_t> quick = EnqueueChaos(store.get(), 300, 10);
  ASSERT_TRUE(WaitFor([&] { return Logged("end") == 300; }, 60'000)) << Logged("end");
  std::map<std::string, int> by_node;
  for (std::int64_t id : quick) {
    ASSERT_TRUE(Finished(store.get(), id));
    Job j = *store->Get(id);
    EXPECT_EQ(j.state, JobState::kSucceeded);
    ++by_node[NodeOf(j)];
  }
  EXPECT_EQ(by_node.size(), 3u) << "every node takes a share";

  // Long jobs; then the whole of n1 dies while it runs some.
  std::vector<std::int64_t> slow = EnqueueChaos(store.get(), 24, 4000);
  std::vector<std::int64_t> on_n1;
  ASSERT_TRUE(WaitFor(
      [&] {
        on_n1.clear();
        for (std::int64_t id : slow) {
          Job j = *store->Get(id);
          if (j.state == JobState::kRunning && NodeOf(j) == "n1" && j.pid) on_n1.push_back(id);
        }
        return !on_n1.empty();
      },
      10'000));
  nodes[0]->KillAll();
  const Clock::time_point killed = Clock::now();
  std::set<std::int64_t> moved;
  ASSERT_TRUE(WaitFor(
      [&] {
        for (std::int64_t id : on_n1) {
          Job j = *store->Get(id);
          if ((j.state == JobState::kRunning && NodeOf(j) != "n1") || j.state == JobState::kSucceeded)
            moved.insert(id);
        }
        return moved.size() == on_n1.size();
      },
      kNodeTimeoutMs + 10'000));
  const auto took = std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - killed).count();
  std::printf("n1 killed with %zu job(s) running; all running elsewhere after %lld ms (node_timeout %d ms)\n",
              on_n1.size(), static_cast<long long>(took), kNodeTimeoutMs);
  EXPECT_LE(took, kNodeTimeoutMs + 2000);

  std::string listing = Droverctl(*nodes[1], "nodes");
  std::printf("$ droverctl nodes\n%s", listing.c_str());
  EXPECT_NE(listing.find("dead"), std::string::npos) << listing;
  nlohmann::json json = nlohmann::json::parse(Droverctl(*nodes[1], "nodes --json"), nullptr, false);
  ASSERT_TRUE(json.is_array()) << json;
  ASSERT_EQ(json.size(), 3u);
  int leaders = 0;
  for (const auto& n : json) {
    EXPECT_EQ(n["state"], n["name"] == "n1" ? "dead" : "alive") << n;
    leaders += n["leader"] == true;
    if (n["name"] == "n1") {
      EXPECT_FALSE(n["leader"].get<bool>());
    }
  }
  EXPECT_EQ(leaders, 1) << json.dump(2);

  for (std::int64_t id : slow) {
    ASSERT_TRUE(Finished(store.get(), id, 30'000)) << id;
    EXPECT_EQ(store->Get(id)->state, JobState::kSucceeded) << id;
  }
  EXPECT_EQ(Logged("overlap"), 0) << "a job ran twice at the same time";
  // The dead node comes back under its name and takes work again.
  ASSERT_TRUE(nodes[0]->Start()) << nodes[0]->Log();
  std::vector<std::int64_t> more = EnqueueChaos(store.get(), 60, 10);
  for (std::int64_t id : more) ASSERT_TRUE(Finished(store.get(), id, 30'000));
  for (auto& n : nodes) EXPECT_EQ(WEXITSTATUS(n->Stop()), 0);
  Result<std::vector<NodeStatus>> after = store->Nodes(kNodeTimeoutMs);
  ASSERT_TRUE(after.ok());
  for (const NodeStatus& n : *after) EXPECT_TRUE(n.stopped_at_ms.has_value()) << n.info.name;
}

// The pids of processes whose command line is `argv` (NUL-separated, as in /proc/PID/cmdline).
std::vector<pid_t> ProcessesRunning(const std::string& argv) {
  std::vector<pid_t> found;
  for (const auto& e : std::filesystem::directory_iterator("/proc")) {
    const std::string name = e.path().filename();
    if (name.find_first_not_of("0123456789") != std::string::npos) continue;
    // Read with read(2): a process may go while it is read (ESRCH), which streams throw for.
    UniqueFd fd(open((e.path() / "cmdline").c_str(), O_RDONLY | O_CLOEXEC));
    char buf[256];
    ssize_t n = fd ? read(fd.get(), buf, sizeof buf) : -1;
    if (n > 0 && std::string(buf, static_cast<size_t>(n)) == argv && Alive(std::stoi(name)))
      found.push_back(std::stoi(name));
  }
  return found;
}

// `; true` makes sh fork: the sleep is the job's grandchild, which PDEATHSIG does not reach.
const std::string kSleepy =
    "\n[jobs.sleepy]\ncommand = [\"/bin/sh\", \"-c\", \"sleep $DROVER_PAYLOAD; true\"]\n";

// Six sleepy jobs, each sleeping for a length of its own ("PREFIX.<test pid><i>"), its name in `ps`.
struct Sleepers {
  std::vector<std::string> lengths;
  std::vector<std::int64_t> ids;

  static size_t Copies(const std::string& length) {
    return ProcessesRunning("sleep\0"s + length + "\0"s).size();
  }
  bool EachRunsOnce() const {
    return std::all_of(lengths.begin(), lengths.end(), [](const std::string& l) { return Copies(l) == 1; });
  }
  // The most copies of one job running now, and how many run in all.
  std::pair<size_t, size_t> MostAndAll() const {
    size_t most = 0, all = 0;
    for (const std::string& l : lengths) {
      const size_t n = Copies(l);
      most = std::max(most, n);
      all += n;
    }
    return {most, all};
  }
  bool AllRunningOn(JobStore* store, const std::string& node) const {
    return std::all_of(ids.begin(), ids.end(), [&](std::int64_t id) {
      Job j = *store->Get(id);
      return j.state == JobState::kRunning && NodeOf(j) == node && j.pid;
    });
  }
};

Result<Sleepers> EnqueueSleepers(JobStore* store, const std::string& prefix,
                                 const std::string& queue = "default") {
  Sleepers s;
  std::vector<EnqueueRequest> reqs;
  for (int i = 1; i <= 6; ++i) {
    s.lengths.push_back(prefix + "." + std::to_string(getpid()) + std::to_string(i));
    EnqueueRequest& r = reqs.emplace_back();
    r.type = "sleepy";
    r.queue = queue;
    r.payload = s.lengths.back();
  }
  Result<std::vector<EnqueueResult>> added = store->EnqueueBatch(reqs);
  if (!added.ok()) return added.status();
  for (const EnqueueResult& r : *added) s.ids.push_back(r.id);
  return s;
}

// kill -9 of one node's droverd alone, while its jobs' grandchildren run: they die with it (the
// job fence), so when the other node takes those jobs after node_timeout, no job ever has two
// live copies. `ps` is read every 100 ms through the rescue.
TEST_F(PostgresNodesTest, ADroverdKilledAloneLeavesNoCopyRunningWhenAnotherNodeTakesItsJobs) {
  std::unique_ptr<Daemon> a = Node("a", kSleepy), b = Node("b", kSleepy);
  ASSERT_TRUE(a->Start()) << a->Log();
  auto store = Store();
  ASSERT_TRUE(store);
  Result<Sleepers> jobs = EnqueueSleepers(store.get(), "600");
  ASSERT_TRUE(jobs.ok()) << jobs.status().ToString();
  ASSERT_TRUE(WaitFor([&] { return jobs->EachRunsOnce(); }, 10'000)) << a->Log();
  ASSERT_TRUE(b->Start()) << b->Log();
  a->Kill();
  const Clock::time_point killed = Clock::now();
  size_t most = 0;
  bool all_on_b = false;
  while (Clock::now() - killed < std::chrono::milliseconds(kNodeTimeoutMs + 5000) && !all_on_b) {
    most = std::max(most, jobs->MostAndAll().first);
    all_on_b = jobs->AllRunningOn(store.get(), "b");
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  EXPECT_EQ(most, 1u) << "a job ran on two nodes at once";
  EXPECT_TRUE(all_on_b) << b->Log();
  ASSERT_TRUE(WaitFor([&] { return jobs->EachRunsOnce(); }, 5000));
  for (std::int64_t id : jobs->ids) {
    EXPECT_TRUE(store->Cancel(id).ok());
    EXPECT_TRUE(Finished(store.get(), id)) << id;
  }
  EXPECT_EQ(WEXITSTATUS(b->Stop()), 0) << b->Log();
}

// A partition: node a's database connections hang (a relay the test freezes) while all its
// processes live. Its workers stop its jobs (the self-fence, 3/4 of node_timeout after the last
// claim or renewal) before node b, leading, may re-queue them (node_timeout after a's last
// heartbeat). a's scheduler beats only every 10 s and its workers were idle before: the claim
// that starts the jobs is all that tells the database a lives, and the cut comes before any
// renewal. The jobs are in a queue only a serves, so the re-queue is the moment to look at.
TEST_F(PostgresNodesTest, ANodeCutOffItsDatabaseStopsItsJobsBeforeAnotherNodeTakesThem) {
  FreezableRelay relay(server_->socket_dir(), dir_.path() + "/relay");
  ASSERT_TRUE(relay.ok());
  std::string via_relay = Uri();
  via_relay.replace(via_relay.find(server_->socket_dir()), server_->socket_dir().size(), relay.dir());
  std::unique_ptr<Daemon> b = Node("b", kSleepy);
  ASSERT_TRUE(b->Start()) << b->Log();
  std::unique_ptr<Daemon> a =
      Node("a",
           kSleepy +
               "\n[pools.cutoff]\nworkers = 1\nconcurrency = 6\nqueues = [\"cutoff\"]\n"
               "\n[scheduler]\ntick = \"10s\"\n",
           via_relay);
  ASSERT_TRUE(a->Start()) << a->Log();
  auto store = Store();
  ASSERT_TRUE(store);
  std::this_thread::sleep_for(std::chrono::milliseconds(kNodeTimeoutMs + 500));  // a's last beat is old
  Result<Sleepers> jobs = EnqueueSleepers(store.get(), "700", "cutoff");
  ASSERT_TRUE(jobs.ok()) << jobs.status().ToString();
  ASSERT_TRUE(WaitFor([&] { return jobs->EachRunsOnce(); }, 10'000)) << a->Log();
  relay.Freeze();
  const Clock::time_point cut = Clock::now();
  auto since_cut = [&] {
    return std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - cut).count();
  };
  long long stopped_ms = -1, requeued_ms = -1;
  size_t live_when_requeued = 0;
  while (since_cut() < kNodeTimeoutMs + 5000 && requeued_ms < 0) {
    const size_t live = jobs->MostAndAll().second;
    if (live == 0 && stopped_ms < 0) stopped_ms = since_cut();
    const bool requeued = std::any_of(jobs->ids.begin(), jobs->ids.end(), [&](std::int64_t id) {
      return store->Get(id)->state == JobState::kQueued;
    });
    if (requeued) {
      requeued_ms = since_cut();
      live_when_requeued = jobs->MostAndAll().second;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  std::printf("cut off: node a's jobs stopped after %lld ms, re-queued after %lld ms (node_timeout %d ms)\n",
              stopped_ms, requeued_ms, kNodeTimeoutMs);
  EXPECT_EQ(live_when_requeued, 0u) << "jobs were re-queued while node a still ran them\n" << a->Log();
  EXPECT_GE(stopped_ms, 0) << "node a's jobs never stopped\n" << a->Log();
  EXPECT_GE(requeued_ms, 0) << "node b never re-queued node a's jobs\n" << b->Log();
  EXPECT_NE(a->Output().find("(self-fence)"), std::string::npos) << a->Output();
  for (std::int64_t id : jobs->ids) EXPECT_TRUE(store->Cancel(id).ok());
  EXPECT_EQ(WEXITSTATUS(b->Stop()), 0) << b->Log();
  a->KillAll();  // it cannot reach the database to stop cleanly
}

// Chaos on three nodes: jobs keep coming while, one at a time, a whole node is killed, a droverd
// alone is killed, or a node is cut off its database for a while (shorter or longer than
// node_timeout) and let back. Afterwards every job has succeeded, no job ran twice at the same
// moment (the chaos job's lock), and no job process is left. DROVER_CHAOS_SECONDS=N runs longer
// (a soak), DROVER_CHAOS_SEED=N replays a run.
TEST_F(PostgresNodesTest, ChaosOnThreeNodesLosesNothingAndRunsNothingTwice) {
  const char* seconds_env = getenv("DROVER_CHAOS_SECONDS");
  const char* seed_env = getenv("DROVER_CHAOS_SEED");
#ifdef DROVER_SANITIZED
  const int default_seconds = 8;
#else
  const int default_seconds = 15;
#endif
  const int seconds = seconds_env ? std::stoi(seconds_env) : default_seconds;
  const unsigned seed = seed_env ? static_cast<unsigned>(std::stoul(seed_env)) : std::random_device{}();
  std::printf("seed %u (DROVER_CHAOS_SEED=%u replays it), %d s\n", seed, seed, seconds);
  std::mt19937 rng(seed);
  std::vector<std::unique_ptr<FreezableRelay>> relays;
  std::vector<std::unique_ptr<Daemon>> nodes;
  for (int i = 0; i < 3; ++i) {
    relays.push_back(
        std::make_unique<FreezableRelay>(server_->socket_dir(), dir_.path() + "/relay" + std::to_string(i)));
    ASSERT_TRUE(relays.back()->ok());
    std::string uri = Uri();
    uri.replace(uri.find(server_->socket_dir()), server_->socket_dir().size(), relays.back()->dir());
    nodes.push_back(Node("n" + std::to_string(i + 1), "", uri));
    ASSERT_TRUE(nodes.back()->Start()) << nodes.back()->Log();
  }
  auto store = Store();
  ASSERT_TRUE(store);

  enum class Fault { kNone, kNodeKilled, kDroverdKilled, kCut };
  Fault fault = Fault::kNone;
  int victim = 0;
  Clock::time_point until;
  std::map<Fault, int> faults;
  std::vector<std::int64_t> ids;
  const Clock::time_point end = Clock::now() + std::chrono::seconds(seconds);
  auto restart = [&](int i) {
    // Refused while the node's last heartbeat is younger than node_timeout: try again later.
    return nodes[i]->pid() > 0 || nodes[i]->Start();
  };
  while (Clock::now() < end) {
    std::vector<EnqueueRequest> reqs(10 + rng() % 20);
    for (EnqueueRequest& r : reqs) {
      r.type = "chaos";
      r.payload = "{\"ms\": " + std::to_string(20 + rng() % 400) + "}";
      r.max_attempts = 10;
    }
    Result<std::vector<EnqueueResult>> added = store->EnqueueBatch(reqs);
    ASSERT_TRUE(added.ok()) << added.status().ToString();
    for (const EnqueueResult& r : *added) ids.push_back(r.id);
    const Clock::time_point now = Clock::now();
    if (fault == Fault::kNone && rng() % 3 == 0) {
      victim = static_cast<int>(rng() % 3);
      fault = static_cast<Fault>(1 + rng() % 3);
      ++faults[fault];
      if (fault == Fault::kNodeKilled) nodes[victim]->KillAll();
      if (fault == Fault::kDroverdKilled) nodes[victim]->Kill();
      if (fault == Fault::kCut) relays[victim]->Freeze();
      until = now + std::chrono::milliseconds(fault == Fault::kCut ? 500 + rng() % (2 * kNodeTimeoutMs)
                                                                   : kNodeTimeoutMs + 500);
    } else if (fault != Fault::kNone && now >= until) {
      if (fault == Fault::kCut) relays[victim]->Thaw();
      if (fault == Fault::kCut || restart(victim)) fault = Fault::kNone;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
  }
  for (auto& r : relays) r->Thaw();
  for (int i = 0; i < 3; ++i) {
    ASSERT_TRUE(WaitFor([&] { return restart(i); }, 2 * kNodeTimeoutMs + 5000)) << nodes[i]->Log();
  }
  std::printf("%zu jobs; %d whole-node kills, %d droverd kills, %d cuts\n", ids.size(),
              faults[Fault::kNodeKilled], faults[Fault::kDroverdKilled], faults[Fault::kCut]);
  for (std::int64_t id : ids) {
    ASSERT_TRUE(Finished(store.get(), id, 120'000)) << id;
    Job j = *store->Get(id);
    EXPECT_EQ(j.state, JobState::kSucceeded) << id << ": " << j.last_error.value_or("");
  }
  EXPECT_EQ(Logged("overlap"), 0) << "a job ran twice at the same time";
  EXPECT_GE(Logged("end"), static_cast<int>(ids.size()));
  for (auto& n : nodes) EXPECT_EQ(WEXITSTATUS(n->Stop()), 0) << n->Log();
  const std::string chaos_argv =
      std::string(CHAOS_JOB_PATH) + '\0' + dir_.path() + "/runs.log" + '\0' + dir_.path() + "/locks" + '\0';
  EXPECT_TRUE(ProcessesRunning(chaos_argv).empty()) << "job processes were left behind";
}

// Anyone who can connect may NOTIFY drover's channel. A flood of notifications that bring no
// work costs an idle node's workers about one claim per 5 ms each (CommitWatch's quiet gap), and
// a job enqueued after it still starts at once.
TEST_F(PostgresNodesTest, ANotifyFloodCostsAnIdleNodeFewClaims) {
  std::unique_ptr<Daemon> d = Node("n1");
  ASSERT_TRUE(d->Start()) << d->Log();
  PGconn* c = PQconnectdb(Uri().c_str());
  ASSERT_EQ(PQstatus(c), CONNECTION_OK);
  auto claims = [&] {  // scans of the jobs table: one per claim when idle
    std::this_thread::sleep_for(std::chrono::milliseconds(1500));  // statistics are sent each second
    PGresult* r = PQexec(c,
                         "SELECT seq_scan + coalesce(idx_scan, 0) FROM pg_stat_user_tables "
                         "WHERE schemaname = 'drover' AND relname = 'jobs'");
    const long long n = PQntuples(r) == 1 ? std::atoll(PQgetvalue(r, 0, 0)) : -1;
    PQclear(r);
    return n;
  };
  const long long before = claims();
  const Clock::time_point start = Clock::now();
  const int kNotifications = 5000;
  for (int i = 0; i < kNotifications; ++i) PQclear(PQexec(c, "NOTIFY \"drover.jobs\""));
  const double seconds = std::chrono::duration<double>(Clock::now() - start).count();
  const long long during = claims() - before;
  // 2 workers, one claim (two scans: the ready index, then the rows) per quiet gap each during
  // the flood; then the scheduler's ticks and the polls while the statistics arrive.
  const long long most = static_cast<long long>(2 * 2 * seconds * 1e6 / CommitWatch::kQuietGapUs) + 100;
  std::printf("%d notifications in %.2f s: %lld scans of jobs (at most %lld allowed)\n", kNotifications,
              seconds, during, most);
  EXPECT_GE(during, 0);
  EXPECT_LE(during, most);
  PQfinish(c);
  auto store = Store();
  ASSERT_TRUE(store);
  std::vector<std::int64_t> ids = EnqueueChaos(store.get(), 1, 10);
  ASSERT_EQ(ids.size(), 1u);
  EXPECT_TRUE(Finished(store.get(), ids[0], 5000));
  EXPECT_EQ(WEXITSTATUS(d->Stop()), 0) << d->Log();
}

TEST_F(PostgresNodesTest, AScheduleFiresEachSlotOnceAcrossNodesThatDieAndComeBack) {
  const std::string schedule =
      "\n[jobs.tick]\ncommand = [\"/bin/true\"]\n\n[schedules.tick]\njob = \"tick\"\nevery = \"1s\"\n";
  std::vector<std::unique_ptr<Daemon>> nodes;
  for (const char* name : {"n1", "n2", "n3"}) {
    nodes.push_back(Node(name, schedule));
    ASSERT_TRUE(nodes.back()->Start()) << nodes.back()->Log();
  }
  auto store = Store();
  ASSERT_TRUE(store);
  std::this_thread::sleep_for(std::chrono::seconds(2));
  nodes[0]->KillAll();
  std::this_thread::sleep_for(std::chrono::seconds(2));
  nodes[1]->KillAll();
  ASSERT_TRUE(nodes[0]->Start()) << nodes[0]->Log();
  std::this_thread::sleep_for(std::chrono::seconds(2));
  ASSERT_TRUE(nodes[1]->Start()) << nodes[1]->Log();
  nodes[2]->KillAll();
  std::this_thread::sleep_for(std::chrono::seconds(3));
  for (auto& n : nodes) n->Stop();
  JobFilter f;
  f.types = {"tick"};
  f.limit = 1000;
  Result<std::vector<Job>> runs = store->List(f);
  ASSERT_TRUE(runs.ok());
  std::map<std::string, int> per_slot;
  for (const Job& j : *runs) ++per_slot[j.unique_key.value_or("?")];
  EXPECT_GE(per_slot.size(), 8u);
  for (const auto& [slot, n] : per_slot) EXPECT_EQ(n, 1) << slot << " ran " << n << " times";
}

TEST_F(PostgresNodesTest, ANameALiveNodeHoldsElsewhereIsRefused) {
  {
    auto store = Store();  // creates the schema
    ASSERT_TRUE(store);
    NodeInfo other{.name = "web-1", .host = "some-other-host", .pid = 4242, .version = "0.1.0", .workers = 2};
    ASSERT_TRUE(store->JoinNodes(other, kNodeTimeoutMs).ok());
  }
  std::unique_ptr<Daemon> d = Node("web-1");
  EXPECT_FALSE(d->Start());
  EXPECT_NE(d->Log().find("node web-1 is alive on host some-other-host"), std::string::npos) << d->Log();
  EXPECT_EQ(d->Reap(5000) >> 8, 1);
  // Once that node has been silent for node_timeout, the name is free.
  std::this_thread::sleep_for(std::chrono::milliseconds(kNodeTimeoutMs + 500));
  std::unique_ptr<Daemon> again = Node("web-1");
  ASSERT_TRUE(again->Start()) << again->Log();
  EXPECT_EQ(WEXITSTATUS(again->Stop()), 0);
}

TEST_F(PostgresNodesTest, BadDatabasesGetClearErrors) {
  std::unique_ptr<Daemon> d = Node("n1");
  std::string check = std::string(DROVERD_PATH) + " --check-config -c " + d->config() + " 2>&1";
  FILE* p = popen(check.c_str(), "r");
  std::string out;
  char buf[4096];
  while (fgets(buf, sizeof buf, p)) out += buf;
  EXPECT_EQ(WEXITSTATUS(pclose(p)), 0) << out;
  EXPECT_NE(out.find("PostgreSQL 15."), std::string::npos) << out;
  EXPECT_NE(out.find("schema drover not created yet"), std::string::npos) << out;

  // A schema newer than this drover: refused, and left as it is.
  {
    auto store = Store();
    ASSERT_TRUE(store);
  }
  PGconn* c = PQconnectdb(Uri().c_str());
  PQclear(PQexec(c, "INSERT INTO drover.schema_version (version) VALUES (99)"));
  PQfinish(c);
  EXPECT_FALSE(d->Start());
  EXPECT_NE(d->Log().find("has version 99, newer than this drover understands"), std::string::npos)
      << d->Log();
  d->Reap(5000);

  // No server there.
  Daemon nowhere("[pools.default]\nworkers = 1\n", "node = \"n9\"\n", DROVERD_PATH,
                 "postgresql:///drover?host=" + dir_.path() + "/nowhere");
  check = std::string(DROVERD_PATH) + " --check-config -c " + nowhere.config() + " 2>&1";
  p = popen(check.c_str(), "r");
  out.clear();
  while (fgets(buf, sizeof buf, p)) out += buf;
  EXPECT_EQ(WEXITSTATUS(pclose(p)), 1) << out;
  EXPECT_NE(out.find("connect to PostgreSQL at " + dir_.path() + "/nowhere"), std::string::npos) << out;

  // A role the server refuses.
  Daemon stranger("[pools.default]\nworkers = 1\n", "node = \"n8\"\n", DROVERD_PATH,
                  "postgresql:///drover?host=" + server_->socket_dir() + "&user=stranger");
  check = std::string(DROVERD_PATH) + " --check-config -c " + stranger.config() + " 2>&1";
  p = popen(check.c_str(), "r");
  out.clear();
  while (fgets(buf, sizeof buf, p)) out += buf;
  EXPECT_EQ(WEXITSTATUS(pclose(p)), 1) << out;
  EXPECT_NE(out.find("role \"stranger\" does not exist"), std::string::npos) << out;
  EXPECT_FALSE(stranger.Start());
  EXPECT_NE(stranger.Log().find("role \"stranger\" does not exist"), std::string::npos) << stranger.Log();
}

TEST_F(PostgresNodesTest, DroverctlJobVerbsWorkUnchanged) {
  std::unique_ptr<Daemon> d = Node("n1");
  ASSERT_TRUE(d->Start()) << d->Log();
  std::string out = Droverctl(*d, "enqueue chaos '{\"ms\": 10}'");
  std::int64_t id = std::atoll(out.substr(out.find_first_of("0123456789")).c_str());
  ASSERT_GT(id, 0) << out;
  EXPECT_EQ(Droverctl(*d, "wait " + std::to_string(id)).find("error"), std::string::npos);
  EXPECT_NE(Droverctl(*d, "show " + std::to_string(id)).find("succeeded"), std::string::npos);
  EXPECT_NE(Droverctl(*d, "jobs --state succeeded").find(std::to_string(id)), std::string::npos);
  EXPECT_NE(Droverctl(*d, "stats").find("default"), std::string::npos);
  std::string status = Droverctl(*d, "status --all-nodes");
  EXPECT_NE(status.find("worker:default:0"), std::string::npos) << status;
  EXPECT_NE(status.find("alive"), std::string::npos) << status;
  EXPECT_EQ(WEXITSTATUS(d->Stop()), 0);
}

TEST_F(PostgresNodesTest, JobsSurviveTheServerRestartingMidRun) {
  std::unique_ptr<Daemon> d = Node("n1");
  ASSERT_TRUE(d->Start()) << d->Log();
  std::vector<std::int64_t> ids;
  {
    auto store = Store();
    ASSERT_TRUE(store);
    ids = EnqueueChaos(store.get(), 200, 30);
  }
  ASSERT_TRUE(WaitFor([&] { return Logged("end") >= 20; }, 20'000));
  ASSERT_TRUE(server_->Restart()) << server_->Log();
  auto store = Store();
  ASSERT_TRUE(store);
  for (std::int64_t id : ids) {
    ASSERT_TRUE(Finished(store.get(), id, 60'000)) << id << "\n" << d->Log();
    EXPECT_EQ(store->Get(id)->state, JobState::kSucceeded) << id;
  }
  EXPECT_EQ(Logged("overlap"), 0);
  EXPECT_TRUE(d->AllRunning()) << d->Log();
  EXPECT_EQ(WEXITSTATUS(d->Stop()), 0);
}

}  // namespace
}  // namespace drover::testing
