#include "supervisor/http/dashboard.h"

#include <gtest/gtest.h>

namespace drover {
namespace {

PageContext Context(bool may_act) {
  PageContext c;
  c.node = "web-1";
  c.csrf = "0123456789abcdef0123456789abcdef";
  c.may_act = may_act;
  c.why_not_act = "actions need [http] auth";
  c.path = "/queues";
  c.now_ms = 1'800'000'000'000;
  return c;
}

Job FailedJob() {
  Job j;
  j.id = 42;
  j.type = "send<script>";
  j.queue = "mail";
  j.payload = "{\"to\": \"<img src=x onerror=alert(1)>\"}";
  j.state = JobState::kFailed;
  j.attempts = 2;
  j.max_attempts = 2;
  j.errors = "[{\"attempt\": 1, \"at\": 1800000000000, \"worker\": \"w\", \"error\": \"</pre><b>boom\"}]";
  j.last_error = "</pre><b>boom";
  return j;
}

TEST(DashboardTest, EverythingFromTheStoreIsEscaped) {
  std::string page = JobPage(Context(true), FailedJob(), false);
  EXPECT_EQ(page.find("<script>"), std::string::npos);
  EXPECT_EQ(page.find("<img"), std::string::npos);
  EXPECT_EQ(page.find("<b>boom"), std::string::npos);
  EXPECT_NE(page.find("send&lt;script&gt;"), std::string::npos);
  EXPECT_EQ(HtmlEscape("<a href=\"x\">'&'</a>"), "&lt;a href=&quot;x&quot;&gt;&#39;&amp;&#39;&lt;/a&gt;");
}

// A worker's runners are shown with their state and, escaped, why the last start failed; a
// draining worker offers no actions.
TEST(DashboardTest, ProcessesShowTheirRunnersAndDrainingOnesNoActions) {
  ProcessRow worker{"worker:default:0", "RUNNING", 12, 1'799'999'000'000, 0, "", {}};
  worker.runners.push_back({"app", "backoff", 5, "exit status 4: <ImportError>"});
  ProcessRow old{"worker:default:1@77", "DRAINING", 77, 1'799'999'000'000, 0, "", {}};
  std::string page = ProcessesPage(Context(true), {worker, old}, false);
  EXPECT_NE(page.find("app: backoff, 5 failed start(s)"), std::string::npos) << page;
  EXPECT_NE(page.find("&lt;ImportError&gt;"), std::string::npos) << page;
  EXPECT_EQ(page.find("<ImportError>"), std::string::npos);
  EXPECT_NE(page.find("/processes/worker%3Adefault%3A0/restart"), std::string::npos) << page;
  EXPECT_EQ(page.find("/processes/worker%3Adefault%3A1%4077/"), std::string::npos) << page;
}

TEST(DashboardTest, ActionsCarryTheTokenAndOnlyWhenAllowed) {
  std::string page = JobPage(Context(true), FailedJob(), false);
  EXPECT_NE(page.find("action=\"/jobs/42/retry\""), std::string::npos);
  EXPECT_NE(page.find("action=\"/jobs/42/delete\""), std::string::npos);
  EXPECT_EQ(page.find("/jobs/42/cancel"), std::string::npos) << "a failed job cannot be cancelled";
  EXPECT_NE(page.find("name=\"csrf\" value=\"0123456789abcdef0123456789abcdef\""), std::string::npos);

  std::string read_only = JobPage(Context(false), FailedJob(), false);
  EXPECT_EQ(read_only.find("<form method=\"post\""), std::string::npos);
  EXPECT_NE(read_only.find("Read-only: actions need [http] auth"), std::string::npos);

  QueueStats q;
  q.queue = "a b/c";
  q.paused = true;
  std::string queues = QueuesPage(Context(true), {q}, false);
  EXPECT_NE(queues.find("action=\"/queues/a%20b%2Fc/resume\""), std::string::npos) << queues;
}

TEST(DashboardTest, PagesLoadOnlyTheirOwnAssets) {
  for (const std::string& page :
       {OverviewPage(Context(true), {}, {}, {}, false), SchedulesPage(Context(true), {}, false),
        ProcessesPage(Context(true), {{"scheduler", "RUNNING", 12, 1'799'999'000'000, 0, "", {}}}, false)}) {
    EXPECT_NE(page.find("href=\"/assets/drover.css\""), std::string::npos);
    EXPECT_NE(page.find("src=\"/assets/drover.js\""), std::string::npos);
    EXPECT_EQ(page.find("http://"), std::string::npos);
    EXPECT_EQ(page.find("https://"), std::string::npos);
  }
  EXPECT_EQ(std::string(DashboardCss()).find("url("), std::string::npos);
}

TEST(DashboardTest, JobsPagesLinkToTheNextPage) {
  JobsQuery q;
  q.filter.limit = 2;
  q.filter.states = {JobState::kFailed};
  q.filter.queues = {"mail"};
  std::vector<Job> rows(3, FailedJob());
  rows[0].id = 9;
  rows[1].id = 8;
  rows[2].id = 7;
  std::string page = JobsPage(Context(true), q, rows, false);
  EXPECT_NE(page.find("href=\"/jobs?state=failed&amp;queue=mail&amp;before=8\""), std::string::npos) << page;
  EXPECT_EQ(page.find("/jobs/7\""), std::string::npos) << "the extra row only says a next page exists";
  std::string last = JobsPage(Context(true), q, {rows[0]}, true);
  EXPECT_EQ(last.find("before="), std::string::npos);
  EXPECT_EQ(last.find("<html"), std::string::npos) << "partial: <main>'s content only";
}

TEST(DashboardTest, TheChartHasABarPairAMinute) {
  std::vector<MinuteCounts> hour(60);
  for (int i = 0; i < 60; ++i) hour[i] = {i * 60'000LL, i, i % 3};
  std::string page = OverviewPage(Context(true), {}, hour, {}, false);
  size_t rects = 0;
  for (size_t at = 0; (at = page.find("<rect", at)) != std::string::npos; ++at) ++rects;
  EXPECT_EQ(rects, 120u);
}

}  // namespace
}  // namespace drover
