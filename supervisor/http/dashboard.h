// The web dashboard's pages, rendered on the server as HTML from plain data: overview, queues,
// jobs, one job, schedules and processes. Actions are forms that POST to the paths the
// supervisor answers (supervisor_web.cc), each carrying the CSRF token; without `may_act` no
// action is shown. The page's style and script are embedded (DashboardCss, DashboardJs): nothing
// is fetched from elsewhere. Pure; thread-safe.
#ifndef DROVER_SUPERVISOR_HTTP_DASHBOARD_H_
#define DROVER_SUPERVISOR_HTTP_DASHBOARD_H_

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "jobs/job.h"
#include "supervisor/http/metrics.h"

namespace drover {

// What every page needs.
struct PageContext {
  std::string node;         // this droverd's name, for the title
  std::string csrf;         // the token every form carries
  bool may_act = false;     // credentials given and not read_only
  std::string why_not_act;  // shown when !may_act
  std::string path;         // the page's own path and query, for "back" after an action
  std::int64_t now_ms = 0;
};

struct ProcessRow {
  std::string name;
  std::string state;  // RUNNING, BACKOFF, ...
  std::int64_t pid = 0;
  std::int64_t started_ms = 0;  // 0: not running
  int restarts = 0;
  std::string last_exit;
  struct Runner {
    std::string name, state;  // state: starting, ready, backoff
    std::int64_t failures = 0;
    std::string last_error;
  };
  std::vector<Runner> runners;  // a worker's [runners.NAME]
};

struct JobsQuery {
  JobFilter filter;  // limit: page size; before_id: the page after
};

std::string HtmlEscape(std::string_view s);

// A whole page (`partial`: only its <main>, for the live refresh).
std::string OverviewPage(const PageContext& c, const std::vector<QueueStats>& queues,
                         const std::vector<MinuteCounts>& last_hour, const std::vector<ProcessRow>& processes,
                         bool partial);
std::string QueuesPage(const PageContext& c, const std::vector<QueueStats>& queues, bool partial);
// `jobs`: up to filter.limit + 1 rows; one more than the page means there is a next page.
std::string JobsPage(const PageContext& c, const JobsQuery& q, const std::vector<Job>& jobs, bool partial);
std::string JobPage(const PageContext& c, const Job& job, bool partial);
std::string SchedulesPage(const PageContext& c, const std::vector<ScheduleState>& schedules, bool partial);
std::string ProcessesPage(const PageContext& c, const std::vector<ProcessRow>& processes, bool partial);
// A page saying what went wrong (no such job, the store failed), with a link back.
std::string MessagePage(const PageContext& c, const std::string& title, const std::string& text);

std::string_view DashboardCss();
std::string_view DashboardJs();

}  // namespace drover

#endif  // DROVER_SUPERVISOR_HTTP_DASHBOARD_H_
