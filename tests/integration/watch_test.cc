// Watching a real droverd: /metrics (checked by promtool) keeps its counts when a worker is
// killed, the event stream follows jobs and processes and never waits for a slow reader, and the
// dashboard's actions need credentials and the form token.
#include <gtest/gtest.h>
#include <poll.h>
#include <sys/socket.h>

#include <fstream>
#include <regex>

#include "common/sqlite.h"
#include "tests/integration/ctl.h"
#include "tests/integration/daemon.h"
#include "tests/integration/http.h"

namespace drover::testing {
namespace {

constexpr const char* kToken = "0a1b2c3d4e5f60718293a4b5c6d7e8f9";

const char* kJobs = R"(
[pools.default]
workers = 2
concurrency = 4

[jobs.ok]
command = ["/bin/sh", "-c", "cat >/dev/null"]

[jobs.bad]
command = ["/bin/sh", "-c", "cat >/dev/null; echo broken >&2; exit 3"]
max_attempts = 2
retry_delay = "100ms"
)";

class WatchTest : public ::testing::Test {
 protected:
  void StartWith(const std::string& http_extra, const std::string& body = kJobs) {
    port_ = FreePort();
    ASSERT_GT(port_, 0);
    d_ = std::make_unique<Daemon>(body + "\n[http]\nlisten = \"127.0.0.1:" + std::to_string(port_) +
                                  "\"\nauth = \"token-file:http-token\"\n" + http_extra);
    std::ofstream(d_->dir() + "/http-token") << kToken << "\n";
    ASSERT_TRUE(d_->Start()) << d_->Log();
    store_ = d_->Store();
    ASSERT_NE(store_, nullptr);
  }

  // The value of the sample `series` (name and labels exactly as exposed), or -1.
  double Sample(const std::string& text, const std::string& series) {
    std::istringstream in(text);
    for (std::string line; std::getline(in, line);) {
      if (line.rfind(series + " ", 0) == 0) return std::stod(line.substr(series.size() + 1));
    }
    return -1;
  }

  std::string Metrics() {
    HttpReply r = HttpGet(port_, "/metrics", kToken);
    EXPECT_EQ(r.status, 200) << r.head << r.body;
    return r.body;
  }

  // The form token of a page.
  std::string Csrf(const std::string& page) {
    std::smatch m;
    return std::regex_search(page, m, std::regex("name=\"csrf\" value=\"([0-9a-f]+)\"")) ? m[1].str() : "";
  }

  int port_ = 0;
  std::unique_ptr<Daemon> d_;
  std::unique_ptr<JobStore> store_;
};

TEST_F(WatchTest, MetricsSurviveAWorkerKilledAndPassPromtool) {
  StartWith("");
  std::vector<std::int64_t> ids;
  for (int i = 0; i < 20; ++i) ids.push_back(Enqueue(store_.get(), "ok"));
  for (int i = 0; i < 3; ++i) ids.push_back(Enqueue(store_.get(), "bad", "{}", 2));
  for (std::int64_t id : ids) ASSERT_TRUE(Finished(store_.get(), id)) << d_->Log();
  const std::string ok = "drover_jobs_total{outcome=\"succeeded\",queue=\"default\",type=\"ok\"}";
  ASSERT_TRUE(WaitFor([&] { return Sample(Metrics(), ok) == 20; }, 5000)) << Metrics();
  std::string m = Metrics();
  EXPECT_EQ(Sample(m, "drover_jobs_total{outcome=\"failed\",queue=\"default\",type=\"bad\"}"), 3) << m;
  EXPECT_EQ(Sample(m, "drover_jobs_total{outcome=\"retried\",queue=\"default\",type=\"bad\"}"), 3) << m;
  EXPECT_EQ(Sample(m, "drover_job_duration_seconds_count{queue=\"default\",type=\"ok\"}"), 20) << m;
  EXPECT_EQ(Sample(m, "drover_job_wait_seconds_count{queue=\"default\",type=\"bad\"}"), 6) << m;
  // Read from the table at most once a second.
  EXPECT_TRUE(WaitFor(
      [&] { return Sample(Metrics(), "drover_queue_jobs{queue=\"default\",state=\"succeeded\"}") == 20; },
      5000))
      << Metrics();
  EXPECT_EQ(Sample(m, "drover_process_up{name=\"worker:default:1\"}"), 1) << m;

  // A worker dies: what it counted stays, and its restart is counted.
  pid_t w = d_->PidOf("worker:default:0");
  ASSERT_GT(w, 0);
  kill(w, SIGKILL);
  ASSERT_TRUE(WaitFor([&] { return d_->PidOf("worker:default:0") != w && d_->AllRunning(); }, 10'000));
  ids.clear();
  for (int i = 0; i < 10; ++i) ids.push_back(Enqueue(store_.get(), "ok"));
  for (std::int64_t id : ids) ASSERT_TRUE(Finished(store_.get(), id)) << d_->Log();
  ASSERT_TRUE(WaitFor([&] { return Sample(Metrics(), ok) == 30; }, 5000)) << Metrics();
  m = Metrics();
  EXPECT_EQ(Sample(m, "drover_process_restarts_total{name=\"worker:default:0\"}"), 1) << m;

  std::ofstream(d_->dir() + "/metrics.txt") << m;
  ShellResult check = RunShell("promtool check metrics < " + d_->dir() + "/metrics.txt 2>&1");
  EXPECT_EQ(check.code, 0) << "promtool (Debian package prometheus, installed by .ci/deps --test): "
                           << check.out;

  EXPECT_EQ(HttpGet(port_, "/metrics").status, 401);
  EXPECT_EQ(WEXITSTATUS(d_->Stop()), 0);
}

// A scrape after an idle spell shows what the table holds now, not what the last reading saw.
TEST_F(WatchTest, AScrapeAfterAnIdleSpellShowsJobsEnqueuedJustBefore) {
  StartWith("");
  ASSERT_TRUE(store_->SetQueuePaused("default", true).ok());  // the jobs stay queued
  const std::string queued = "drover_queue_jobs{queue=\"default\",state=\"queued\"}";
  EXPECT_EQ(Sample(Metrics(), queued), 0);
  std::this_thread::sleep_for(std::chrono::milliseconds(1500));
  for (int i = 0; i < 5; ++i) Enqueue(store_.get(), "ok");
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  std::string m = Metrics();
  EXPECT_EQ(Sample(m, queued), 5) << m;
  EXPECT_EQ(WEXITSTATUS(d_->Stop()), 0);
}

TEST_F(WatchTest, EventsFollowJobsAndProcesses) {
  StartWith("");
  // Through droverctl, on the control socket.
  std::string out = d_->dir() + "/events.out";
  FILE* follower = popen(
      (std::string(DROVERCTL_PATH) + " -c " + d_->config() + " events -f --json > " + out + " 2>&1 & echo $!")
          .c_str(),
      "r");
  pid_t pid = 0;
  ASSERT_EQ(fscanf(follower, "%d", &pid), 1);
  pclose(follower);
  auto events = [&] {
    std::ifstream in(out);
    return std::string(std::istreambuf_iterator<char>(in), {});
  };
  ASSERT_TRUE(WaitFor([&] { return events().find("\"kind\":\"process\"") != std::string::npos; }, 5000));
  std::int64_t good = Enqueue(store_.get(), "ok"), bad = Enqueue(store_.get(), "bad", "{}", 1);
  ASSERT_TRUE(Finished(store_.get(), good) && Finished(store_.get(), bad));
  auto has = [&](const std::string& event, std::int64_t id) {
    return events().find("\"event\":\"" + event + "\",\"id\":" + std::to_string(id)) != std::string::npos;
  };
  EXPECT_TRUE(
      WaitFor([&] { return has("enqueued", good) && has("succeeded", good) && has("failed", bad); }, 5000))
      << events();
  EXPECT_TRUE(has("started", good)) << events();
  pid_t w = d_->PidOf("worker:default:1");
  kill(w, SIGKILL);
  EXPECT_TRUE(WaitFor([&] { return events().find("\"event\":\"exited\"") != std::string::npos; }, 5000))
      << events();
  kill(pid, SIGTERM);
  waitpid(pid, nullptr, 0);

  // Without -f: the recent events, filtered.
  ShellResult recent = Ctl(*d_, "events --type bad");
  EXPECT_EQ(recent.code, 0) << recent.out;
  EXPECT_NE(recent.out.find("job failed id=" + std::to_string(bad)), std::string::npos) << recent.out;
  EXPECT_EQ(recent.out.find("type=ok"), std::string::npos) << recent.out;
  EXPECT_EQ(Ctl(*d_, "events --bogus x").code, 2);
  EXPECT_EQ(WEXITSTATUS(d_->Stop()), 0);
}

// Follows the event stream on the control socket; empty when it did not open.
UniqueFd FollowEvents(const std::string& socket) {
  Result<UniqueFd> connected = ControlConnect(socket);
  if (!connected.ok()) return {};
  UniqueFd fd = std::move(connected).value();
  std::string req = "GET /events?follow=1 HTTP/1.1\r\n\r\n";
  if (!WriteAll(fd.get(), req.data(), req.size()).ok()) return {};
  std::string head;  // once it came, the stream is open
  bool open = WaitFor(
      [&] {
        char c;
        while (head.find("\r\n\r\n") == std::string::npos && recv(fd.get(), &c, 1, MSG_DONTWAIT) == 1)
          head += c;
        return head.find("\r\n\r\n") != std::string::npos;
      },
      5000);
  if (!open || head.rfind("HTTP/1.1 200", 0) != 0) return {};
  return fd;
}

// Appends what `fd` has to read now to `got`.
void ReadAvailable(int fd, std::string* got) {
  pollfd p{fd, POLLIN, 0};
  while (poll(&p, 1, 0) > 0) {
    char buf[65536];
    ssize_t n = read(fd, buf, sizeof buf);
    if (n <= 0) break;
    got->append(buf, static_cast<size_t>(n));
  }
}

size_t Count(const std::string& text, const std::string& what) {
  size_t n = 0;
  for (size_t at = text.find(what); at != std::string::npos; at = text.find(what, at + what.size())) ++n;
  return n;
}

// A reader that stops reading loses events and is told how many; droverd, its workers and the
// readers who keep up go on.
TEST_F(WatchTest, ASlowReaderLosesEventsAndNeverBlocksDroverd) {
  StartWith("");
  // On the control socket, whose buffers hold less than loopback TCP's.
  UniqueFd slow = FollowEvents(d_->socket()), fast = FollowEvents(d_->socket());
  ASSERT_TRUE(slow && fast) << d_->Log();
  // Events faster than jobs run: droverd tells of every new job, and these 20000 wait for
  // tomorrow (about 2 MB of events, several times what the socket and droverd hold for a reader).
  // One plain-SQL statement: a sanitized build's EnqueueBatch would hold the write lock for
  // seconds on a busy machine.
  const size_t later = 20000;
  {
    SqliteDb db = std::move(SqliteDb::Open(d_->db(), SqliteOptions{})).value();
    ASSERT_TRUE(db.Exec("WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < " +
                        std::to_string(later) + ") INSERT INTO jobs (type, run_at) SELECT 'ok', " +
                        std::to_string(NowMs() + 86'400'000) + " FROM n")
                    .ok());
  }
  std::vector<EnqueueRequest> now(8);
  for (EnqueueRequest& r : now) r.type = "ok";
  Result<std::vector<EnqueueResult>> added = store_->EnqueueBatch(now);
  ASSERT_TRUE(added.ok());
  // The reader who keeps up sees every job enqueued, while the slow one reads nothing.
  std::string seen;
  EXPECT_TRUE(WaitFor(
      [&] {
        ReadAvailable(fast.get(), &seen);
        return Count(seen, "\"event\":\"enqueued\"") >= later + now.size();
      },
      60'000))
      << Count(seen, "\"event\":\"enqueued\"") << " enqueued events seen";
  EXPECT_EQ(seen.find("\"event\":\"lost\""), std::string::npos);
  for (const EnqueueResult& r : *added) ASSERT_TRUE(Finished(store_.get(), r.id, 30'000)) << d_->Log();
  EXPECT_TRUE(d_->AllRunning());
  // Now it reads: somewhere in the stream droverd says how many it dropped.
  std::string got;
  bool told = WaitFor(
      [&] {
        ReadAvailable(slow.get(), &got);
        ReadAvailable(fast.get(), &seen);
        return got.find("\"event\":\"lost\"") != std::string::npos;
      },
      10'000);
  EXPECT_TRUE(told) << got.size() << " bytes read";
  std::smatch m;
  ASSERT_TRUE(std::regex_search(got, m, std::regex("\"count\":([0-9]+)")));
  EXPECT_GT(std::stoll(m[1].str()), 0);
  const int stopped = d_->Stop();
  EXPECT_EQ(WEXITSTATUS(stopped), 0) << "status " << stopped << "\n" << d_->Log();
}

TEST_F(WatchTest, DashboardActionsNeedCredentialsAndTheFormToken) {
  StartWith("", std::string(kJobs) + "\n[schedules.nightly]\njob = \"ok\"\ncron = \"0 3 * * *\"\n");
  std::int64_t bad = Enqueue(store_.get(), "bad", "{\"to\": \"<b>x</b>\"}", 1);
  ASSERT_TRUE(Finished(store_.get(), bad));

  EXPECT_EQ(HttpGet(port_, "/").status, 401);
  EXPECT_EQ(HttpPost(port_, "/queues/default/pause", "csrf=x").status, 401);
  EXPECT_EQ(HttpPost(port_, "/queues/default/pause", "csrf=x", "wrong-token-wrong-token").status, 401);
  EXPECT_TRUE(store_->PausedQueues()->empty());

  for (const char* page : {"/", "/queues", "/jobs", "/jobs?state=failed", "/schedules", "/processes"}) {
    HttpReply r = HttpGet(port_, page, kToken);
    EXPECT_EQ(r.status, 200) << page << ": " << r.body;
    EXPECT_NE(r.head.find("Content-Security-Policy"), std::string::npos);
  }
  HttpReply job = HttpGet(port_, "/jobs/" + std::to_string(bad), kToken);
  ASSERT_EQ(job.status, 200);
  EXPECT_NE(job.body.find("&lt;b&gt;x&lt;/b&gt;"), std::string::npos) << "the payload is escaped";
  EXPECT_NE(job.body.find("broken"), std::string::npos) << "the attempt's error is shown";
  const std::string csrf = Csrf(job.body);
  ASSERT_EQ(csrf.size(), 32u) << job.body;

  // Without the form's token nothing happens.
  EXPECT_EQ(HttpPost(port_, "/queues/default/pause", "csrf=0000", kToken).status, 403);
  EXPECT_TRUE(store_->PausedQueues()->empty());
  HttpReply paused = HttpPost(port_, "/queues/default/pause", "csrf=" + csrf + "&back=%2Fqueues", kToken);
  EXPECT_EQ(paused.status, 303) << paused.body;
  EXPECT_NE(paused.head.find("Location: /queues"), std::string::npos) << paused.head;
  EXPECT_EQ(*store_->PausedQueues(), std::vector<std::string>{"default"});
  // The failed job goes back to its (paused) queue.
  EXPECT_EQ(HttpPost(port_, "/jobs/" + std::to_string(bad) + "/retry", "csrf=" + csrf, kToken).status, 303);
  EXPECT_EQ(store_->Get(bad)->state, JobState::kQueued);
  EXPECT_EQ(HttpPost(port_, "/jobs/" + std::to_string(bad) + "/cancel", "csrf=" + csrf, kToken).status, 303);
  EXPECT_EQ(store_->Get(bad)->state, JobState::kCancelled);
  EXPECT_EQ(HttpPost(port_, "/jobs/" + std::to_string(bad) + "/cancel", "csrf=" + csrf, kToken).status, 409)
      << "a finished job cannot be cancelled";
  EXPECT_EQ(HttpPost(port_, "/nowhere/x/y", "csrf=" + csrf, kToken).status, 404);
  // Back to this site only.
  HttpReply resumed = HttpPost(port_, "/queues/default/resume",
                               "csrf=" + csrf + "&back=https%3A%2F%2Fevil.example%2F", kToken);
  EXPECT_EQ(resumed.status, 303);
  EXPECT_NE(resumed.head.find("Location: /"), std::string::npos) << resumed.head;
  EXPECT_EQ(resumed.head.find("evil"), std::string::npos) << resumed.head;
  EXPECT_TRUE(store_->PausedQueues()->empty());
  EXPECT_EQ(HttpPost(port_, "/schedules/nightly/pause", "csrf=" + csrf, kToken).status, 303);
  EXPECT_TRUE((*store_->Schedules())[0].paused);
  EXPECT_EQ(HttpPost(port_, "/jobs/999999/delete", "csrf=" + csrf, kToken).status, 404);

  // read_only (applied by a reload): no buttons, and every action refused.
  std::string config;
  {
    std::ifstream in(d_->config());
    config.assign(std::istreambuf_iterator<char>(in), {});
  }
  d_->RewriteConfig(config + "read_only = true\n");
  ASSERT_EQ(Ctl(*d_, "reload").code, 0);
  HttpReply queues = HttpGet(port_, "/queues", kToken);
  EXPECT_EQ(queues.body.find("method=\"post\""), std::string::npos) << queues.body;
  EXPECT_NE(queues.body.find("read_only"), std::string::npos);
  EXPECT_EQ(HttpPost(port_, "/queues/default/pause", "csrf=" + csrf, kToken).status, 403);
  EXPECT_TRUE(store_->PausedQueues()->empty());
  EXPECT_EQ(WEXITSTATUS(d_->Stop()), 0);
}

}  // namespace
}  // namespace drover::testing
