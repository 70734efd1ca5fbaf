#include "supervisor/http/dashboard.h"

#include <algorithm>
#include <cstdio>
#include <nlohmann/json.hpp>

#include "common/time_util.h"
#include "supervisor/http/url.h"

namespace drover {

std::string HtmlEscape(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (char c : s) {
    switch (c) {
      case '&':
        out += "&amp;";
        break;
      case '<':
        out += "&lt;";
        break;
      case '>':
        out += "&gt;";
        break;
      case '"':
        out += "&quot;";
        break;
      case '\'':
        out += "&#39;";
        break;
      default:
        out += c;
    }
  }
  return out;
}

namespace {

std::string Num(std::int64_t n) { return std::to_string(n); }

std::string Time(std::int64_t ms) { return ms > 0 ? HtmlEscape(FormatRfc3339(ms)) : "-"; }

// "3m 20s", for ages and uptimes.
std::string Age(std::int64_t ms) {
  std::int64_t s = std::max<std::int64_t>(ms, 0) / 1000;
  char buf[64];
  if (s < 60) {
    snprintf(buf, sizeof buf, "%llds", static_cast<long long>(s));
  } else if (s < 3600) {
    snprintf(buf, sizeof buf, "%lldm %llds", static_cast<long long>(s / 60), static_cast<long long>(s % 60));
  } else if (s < 86400) {
    snprintf(buf, sizeof buf, "%lldh %lldm", static_cast<long long>(s / 3600),
             static_cast<long long>(s % 3600 / 60));
  } else {
    snprintf(buf, sizeof buf, "%lldd %lldh", static_cast<long long>(s / 86400),
             static_cast<long long>(s % 86400 / 3600));
  }
  return buf;
}

// A one-button form that POSTs `action`; nothing without the right to act.
std::string Button(const PageContext& c, const std::string& action, std::string_view label,
                   bool danger = false) {
  if (!c.may_act) return "";
  return "<form method=\"post\" action=\"" + HtmlEscape(action) + "\" class=\"act\"><input type=\"hidden\" " +
         "name=\"csrf\" value=\"" + HtmlEscape(c.csrf) + "\"><input type=\"hidden\" name=\"back\" value=\"" +
         HtmlEscape(c.path) + "\"><button" + (danger ? " class=\"danger\"" : "") + " data-action=\"" +
         HtmlEscape(action) + "\">" + HtmlEscape(label) + "</button></form>";
}

std::string Page(const PageContext& c, std::string_view title, std::string_view active,
                 const std::string& main, bool partial) {
  if (partial) return main;
  std::string nav;
  for (auto [href, name] :
       {std::pair{"/", "Overview"}, std::pair{"/queues", "Queues"}, std::pair{"/jobs", "Jobs"},
        std::pair{"/schedules", "Schedules"}, std::pair{"/processes", "Processes"}}) {
    nav += std::string("<a href=\"") + href + "\"" + (active == name ? " class=\"on\"" : "") + ">" + name +
           "</a>";
  }
  std::string banner = c.may_act ? "" : "<p class=\"ro\">Read-only: " + HtmlEscape(c.why_not_act) + "</p>";
  return "<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\"><meta name=\"viewport\" "
         "content=\"width=device-width,initial-scale=1\"><title>" +
         HtmlEscape(title) + " · drover " + HtmlEscape(c.node) +
         "</title><link rel=\"stylesheet\" href=\"/assets/drover.css\"></head><body><header><b>drover</b> "
         "<span>" +
         HtmlEscape(c.node) + "</span><nav>" + nav + "</nav></header>" + banner + "<main id=\"main\">" +
         main + "</main><script src=\"/assets/drover.js\"></script></body></html>";
}

std::string StateBadge(std::string_view state) {
  return "<span class=\"st st-" + HtmlEscape(state) + "\">" + HtmlEscape(state) + "</span>";
}

// An SVG bar chart of the last hour: succeeded stacked under failed, one bar a minute.
std::string Chart(const std::vector<MinuteCounts>& minutes) {
  std::int64_t top = 1;
  for (const MinuteCounts& m : minutes) top = std::max(top, m.succeeded + m.failed);
  const int w = 600, h = 120, bar = w / 60;
  std::string svg = "<svg class=\"chart\" viewBox=\"0 0 " + Num(w) + " " + Num(h + 14) +
                    "\" role=\"img\" aria-label=\"jobs finished per minute, last hour\">";
  for (size_t i = 0; i < minutes.size(); ++i) {
    const MinuteCounts& m = minutes[i];
    int x = static_cast<int>(i) * bar;
    int hs = static_cast<int>(m.succeeded * h / top), hf = static_cast<int>(m.failed * h / top);
    std::string tip = "<title>" + HtmlEscape(FormatRfc3339(m.minute_ms)) + ": " + Num(m.succeeded) +
                      " succeeded, " + Num(m.failed) + " failed or retried</title>";
    svg += "<g>" + tip + "<rect class=\"ok\" x=\"" + Num(x) + "\" y=\"" + Num(h - hs) + "\" width=\"" +
           Num(bar - 1) + "\" height=\"" + Num(hs) + "\"/><rect class=\"bad\" x=\"" + Num(x) + "\" y=\"" +
           Num(h - hs - hf) + "\" width=\"" + Num(bar - 1) + "\" height=\"" + Num(hf) + "\"/></g>";
  }
  svg += "<text x=\"0\" y=\"" + Num(h + 12) + "\">-60 min</text><text x=\"" + Num(w) + "\" y=\"" +
         Num(h + 12) + "\" text-anchor=\"end\">now · peak " + Num(top) + "/min</text></svg>";
  return svg;
}

std::string ProcessTable(const PageContext& c, const std::vector<ProcessRow>& processes, bool actions) {
  std::string t =
      "<table><thead><tr><th>Process</th><th>State</th><th>Pid</th><th>Uptime</th><th>Restarts</th>"
      "<th>Last exit</th><th>Runners</th>" +
      std::string(actions && c.may_act ? "<th></th>" : "") + "</tr></thead><tbody>";
  for (const ProcessRow& p : processes) {
    t += "<tr><td>" + HtmlEscape(p.name) + "</td><td>" + StateBadge(p.state) + "</td><td>" +
         (p.pid > 0 ? Num(p.pid) : "-") + "</td><td>" +
         (p.started_ms > 0 ? Age(c.now_ms - p.started_ms) : "-") + "</td><td>" + Num(p.restarts) +
         "</td><td>" + HtmlEscape(p.last_exit) + "</td><td>";
    for (const ProcessRow::Runner& r : p.runners) {
      std::string about = r.name + ": " + r.state;
      if (r.failures > 0) about += ", " + Num(r.failures) + " failed start(s)";
      t += "<div class=\"runner\"" +
           (r.last_error.empty() ? "" : " title=\"" + HtmlEscape(r.last_error) + "\"") + ">" +
           StateBadge(r.state == "ready"     ? "RUNNING"
                      : r.state == "backoff" ? "BACKOFF"
                                             : "STARTING") +
           " " + HtmlEscape(about) + "</div>";
    }
    t += "</td>";
    if (actions && c.may_act && p.state == "DRAINING") {
      t += "<td></td>";  // replaced: it goes once its jobs end
    } else if (actions && c.may_act) {
      std::string base = "/processes/" + UrlEncode(p.name);
      t += "<td>" + Button(c, base + "/restart", "Restart") +
           (p.pid > 0 ? Button(c, base + "/stop", "Stop", true) : Button(c, base + "/start", "Start")) +
           "</td>";
    }
    t += "</tr>";
  }
  return t + "</tbody></table>";
}

std::string QueueTable(const PageContext& c, const std::vector<QueueStats>& queues, bool actions) {
  std::string t = "<table><thead><tr><th>Queue</th>";
  for (const JobStateInfo& s : kJobStates) t += "<th>" + std::string(s.name) + "</th>";
  t += "<th>Oldest ready</th><th>Done/min</th><th>Paused</th>" +
       std::string(actions && c.may_act ? "<th></th>" : "") + "</tr></thead><tbody>";
  for (const QueueStats& q : queues) {
    std::string jobs = "/jobs?queue=" + UrlEncode(q.queue);
    t += "<tr data-queue=\"" + HtmlEscape(q.queue) + "\"><td><a href=\"" + HtmlEscape(jobs) + "\">" +
         HtmlEscape(q.queue) + "</a></td>";
    for (const JobStateInfo& s : kJobStates) {
      t += "<td class=\"n\"><a href=\"" + HtmlEscape(jobs + "&state=" + std::string(s.name)) + "\">" +
           Num(q.counts[static_cast<int>(s.state)]) + "</a></td>";
    }
    t += "<td>" + (q.oldest_ready_ms ? Age(c.now_ms - *q.oldest_ready_ms) : std::string("-")) +
         "</td><td class=\"n\">" + Num(q.finished_last_minute) + "</td><td class=\"paused\">" +
         (q.paused ? "paused" : "no") + "</td>";
    if (actions && c.may_act) {
      std::string base = "/queues/" + UrlEncode(q.queue);
      t += "<td>" + (q.paused ? Button(c, base + "/resume", "Resume") : Button(c, base + "/pause", "Pause")) +
           "</td>";
    }
    t += "</tr>";
  }
  if (queues.empty()) t += "<tr><td colspan=\"12\">No jobs yet.</td></tr>";
  return t + "</tbody></table>";
}

std::string PrettyJson(const std::string& text) {
  nlohmann::json j = nlohmann::json::parse(text, nullptr, false);
  if (j.is_discarded()) return HtmlEscape(text);
  return HtmlEscape(j.dump(2, ' ', false, nlohmann::json::error_handler_t::replace));
}

}  // namespace

std::string OverviewPage(const PageContext& c, const std::vector<QueueStats>& queues,
                         const std::vector<MinuteCounts>& last_hour, const std::vector<ProcessRow>& processes,
                         bool partial) {
  std::int64_t totals[kJobStateCount] = {};
  for (const QueueStats& q : queues) {
    for (int i = 0; i < kJobStateCount; ++i) totals[i] += q.counts[i];
  }
  std::string m = "<h1>Overview</h1><div class=\"cards\">";
  for (const JobStateInfo& s : kJobStates) {
    m += "<a class=\"card\" href=\"/jobs?state=" + std::string(s.name) + "\"><span>" + std::string(s.name) +
         "</span><b id=\"count-" + std::string(s.name) + "\">" + Num(totals[static_cast<int>(s.state)]) +
         "</b></a>";
  }
  m += "</div><h2>Jobs finished, last hour</h2>" + Chart(last_hour) + "<h2>Processes</h2>" +
       ProcessTable(c, processes, false);
  return Page(c, "Overview", "Overview", m, partial);
}

std::string QueuesPage(const PageContext& c, const std::vector<QueueStats>& queues, bool partial) {
  return Page(c, "Queues", "Queues", "<h1>Queues</h1>" + QueueTable(c, queues, true), partial);
}

std::string JobsPage(const PageContext& c, const JobsQuery& q, const std::vector<Job>& jobs, bool partial) {
  const JobFilter& f = q.filter;
  std::string m =
      "<h1>Jobs</h1><form method=\"get\" action=\"/jobs\" class=\"filters\"><label>State <select "
      "name=\"state\"><option value=\"\">any</option>";
  for (const JobStateInfo& s : kJobStates) {
    bool on = f.states.size() == 1 && f.states[0] == s.state;
    m += "<option" + std::string(on ? " selected" : "") + ">" + std::string(s.name) + "</option>";
  }
  const std::string queue = f.queues.empty() ? "" : f.queues[0], type = f.types.empty() ? "" : f.types[0];
  m += "</select></label><label>Queue <input name=\"queue\" value=\"" + HtmlEscape(queue) +
       "\"></label><label>Type <input name=\"type\" value=\"" + HtmlEscape(type) +
       "\"></label><button>Filter</button></form>";
  m += "<table><thead><tr><th>Id</th><th>Type</th><th>Queue</th><th>State</th><th>Attempts</th><th>Priority</"
       "th>"
       "<th>Enqueued</th><th>Finished</th><th>Last error</th></tr></thead><tbody>";
  const size_t shown = std::min(jobs.size(), static_cast<size_t>(f.limit));
  for (size_t i = 0; i < shown; ++i) {
    const Job& j = jobs[i];
    std::string err = j.last_error.value_or("");
    if (err.size() > 120) err = err.substr(0, 120) + "…";
    m += "<tr><td><a href=\"/jobs/" + Num(j.id) + "\">" + Num(j.id) + "</a></td><td>" + HtmlEscape(j.type) +
         "</td><td>" + HtmlEscape(j.queue) + "</td><td>" + StateBadge(JobStateName(j.state)) +
         "</td><td class=\"n\">" + Num(j.attempts) + "/" + Num(j.max_attempts) + "</td><td class=\"n\">" +
         Num(j.priority) + "</td><td>" + Time(j.enqueued_at_ms) + "</td><td>" +
         Time(j.finished_at_ms.value_or(0)) + "</td><td class=\"err\">" + HtmlEscape(err) + "</td></tr>";
  }
  if (shown == 0) m += "<tr><td colspan=\"9\">No job matches.</td></tr>";
  m += "</tbody></table><p class=\"pager\">";
  std::string base = "/jobs?";
  if (f.states.size() == 1) base += "state=" + std::string(JobStateName(f.states[0])) + "&";
  if (!queue.empty()) base += "queue=" + UrlEncode(queue) + "&";
  if (!type.empty()) base += "type=" + UrlEncode(type) + "&";
  if (q.filter.before_id) m += "<a href=\"" + HtmlEscape(base) + "\">First page</a> ";
  if (jobs.size() > shown) {
    m += "<a href=\"" + HtmlEscape(base + "before=" + Num(jobs[shown - 1].id)) +
         "\" id=\"next\">Older jobs →</a>";
  }
  m += "</p>";
  return Page(c, "Jobs", "Jobs", m, partial);
}

std::string JobPage(const PageContext& c, const Job& j, bool partial) {
  const std::string base = "/jobs/" + Num(j.id);
  std::string m =
      "<h1>Job " + Num(j.id) + " " + StateBadge(JobStateName(j.state)) + "</h1><p class=\"actions\">";
  if (j.state == JobState::kQueued || j.state == JobState::kRunning)
    m += Button(c, base + "/cancel", "Cancel", true);
  if (j.state == JobState::kFailed || j.state == JobState::kCancelled || j.state == JobState::kExpired)
    m += Button(c, base + "/retry", "Retry");
  if (j.state != JobState::kRunning) m += Button(c, base + "/delete", "Delete", true);
  m += "</p><dl>";
  auto row = [&](std::string_view k, const std::string& v) {
    m += "<dt>" + std::string(k) + "</dt><dd>" + v + "</dd>";
  };
  row("Type", HtmlEscape(j.type));
  row("Queue",
      "<a href=\"/jobs?queue=" + HtmlEscape(UrlEncode(j.queue)) + "\">" + HtmlEscape(j.queue) + "</a>");
  row("Priority", Num(j.priority));
  row("Attempts", Num(j.attempts) + " of " + Num(j.max_attempts));
  row("Enqueued", Time(j.enqueued_at_ms));
  row("Run at", Time(j.run_at_ms));
  if (j.expires_at_ms) row("Expires", Time(*j.expires_at_ms));
  if (j.started_at_ms) row("Started", Time(*j.started_at_ms));
  if (j.finished_at_ms) row("Finished", Time(*j.finished_at_ms));
  if (j.unique_key) row("Unique key", HtmlEscape(*j.unique_key));
  if (j.resource) row("Resource", HtmlEscape(*j.resource));
  if (j.worker) row("Worker", HtmlEscape(*j.worker) + (j.pid ? " (pid " + Num(*j.pid) + ")" : ""));
  if (j.cancel_requested) row("Cancel", "requested");
  if (j.progress || j.progress_message) {
    int pct = static_cast<int>(j.progress.value_or(0) * 100 + 0.5);
    row("Progress", "<progress max=\"100\" value=\"" + Num(pct) + "\"></progress> " + Num(pct) + "% " +
                        HtmlEscape(j.progress_message.value_or("")));
  }
  m += "</dl><h2>Payload</h2><pre>" + PrettyJson(j.payload) + "</pre>";
  if (j.result) m += "<h2>Result</h2><pre>" + PrettyJson(*j.result) + "</pre>";
  if (j.checkpoint) m += "<h2>Checkpoint</h2><pre>" + PrettyJson(*j.checkpoint) + "</pre>";
  nlohmann::json errors = nlohmann::json::parse(j.errors, nullptr, false);
  m += "<h2>Attempts that failed</h2>";
  if (!errors.is_array() || errors.empty()) {
    m += "<p>None.</p>";
  } else {
    m += "<table><thead><tr><th>Attempt</th><th>At</th><th>Worker</th><th>Error</th></tr></thead><tbody>";
    for (const nlohmann::json& e : errors) {
      auto field = [&](const char* k) {
        return e.contains(k) ? (e[k].is_string() ? e[k].get<std::string>() : e[k].dump()) : std::string();
      };
      std::string at = e.contains("at") && e["at"].is_number_integer() ? Time(e["at"].get<std::int64_t>())
                                                                       : HtmlEscape(field("at"));
      m += "<tr><td class=\"n\">" + HtmlEscape(field("attempt")) + "</td><td>" + at + "</td><td>" +
           HtmlEscape(field("worker")) + "</td><td><pre>" + HtmlEscape(field("error")) + "</pre></td></tr>";
    }
    m += "</tbody></table>";
  }
  if (j.last_error && (!errors.is_array() || errors.empty())) {
    m += "<h2>Last error</h2><pre>" + HtmlEscape(*j.last_error) + "</pre>";
  }
  return Page(c, "Job " + Num(j.id), "Jobs", m, partial);
}

std::string SchedulesPage(const PageContext& c, const std::vector<ScheduleState>& schedules, bool partial) {
  std::string m =
      "<h1>Schedules</h1><table><thead><tr><th>Schedule</th><th>Timing</th><th>Next run</th>"
      "<th>Last run</th><th>Last job</th><th>Paused</th>" +
      std::string(c.may_act ? "<th></th>" : "") + "</tr></thead><tbody>";
  for (const ScheduleState& s : schedules) {
    std::string last_job = "-";
    if (s.last_job_id) {
      last_job = "<a href=\"/jobs/" + Num(*s.last_job_id) + "\">" + Num(*s.last_job_id) + "</a> " +
                 (s.last_job_state ? StateBadge(JobStateName(*s.last_job_state)) : "(gone)");
    }
    m += "<tr data-schedule=\"" + HtmlEscape(s.name) + "\"><td>" + HtmlEscape(s.name) + "</td><td><code>" +
         HtmlEscape(s.spec) + "</code></td><td>" + Time(s.next_run_ms) + "</td><td>" +
         Time(s.last_run_ms.value_or(0)) + "</td><td>" + last_job + "</td><td class=\"paused\">" +
         (s.paused ? "paused" : "no") + "</td>";
    if (c.may_act) {
      std::string base = "/schedules/" + UrlEncode(s.name);
      m += "<td>" + Button(c, base + "/trigger", "Run now") +
           (s.paused ? Button(c, base + "/resume", "Resume") : Button(c, base + "/pause", "Pause")) + "</td>";
    }
    m += "</tr>";
  }
  if (schedules.empty()) m += "<tr><td colspan=\"7\">No schedules are configured.</td></tr>";
  return Page(c, "Schedules", "Schedules", m + "</tbody></table>", partial);
}

std::string ProcessesPage(const PageContext& c, const std::vector<ProcessRow>& processes, bool partial) {
  return Page(c, "Processes", "Processes", "<h1>Processes</h1>" + ProcessTable(c, processes, true), partial);
}

std::string MessagePage(const PageContext& c, const std::string& title, const std::string& text) {
  return Page(c, title, "",
              "<h1>" + HtmlEscape(title) + "</h1><p class=\"msg\">" + HtmlEscape(text) +
                  "</p><p><a href=\"/\">Overview</a></p>",
              false);
}

std::string_view DashboardCss() {
  return R"css(:root{--fg:#1d2330;--mut:#667085;--bd:#d9dee7;--bg:#f6f7f9;--ok:#2f9e44;--bad:#d9480f;--acc:#1c64c8}
*{box-sizing:border-box}body{margin:0;font:14px/1.45 system-ui,sans-serif;color:var(--fg);background:var(--bg)}
header{display:flex;gap:1rem;align-items:center;padding:.6rem 1.2rem;background:#1d2330;color:#fff}
header span{color:#aab4c5}nav{display:flex;gap:.2rem;margin-left:1rem}nav a{color:#cfd6e3;text-decoration:none;padding:.3rem .7rem;border-radius:4px}
nav a.on,nav a:hover{background:#3a4458;color:#fff}main{padding:1rem 1.2rem;max-width:1200px}h1{font-size:1.4rem;margin:.2rem 0 1rem}
h2{font-size:1.05rem;margin:1.4rem 0 .5rem}table{border-collapse:collapse;width:100%;background:#fff;border:1px solid var(--bd)}
th,td{padding:.35rem .6rem;border-bottom:1px solid var(--bd);text-align:left;vertical-align:top}th{background:#eef1f5;font-weight:600}
td.n{text-align:right;font-variant-numeric:tabular-nums}td.err{color:var(--bad);max-width:28rem;overflow:hidden}
a{color:var(--acc)}.cards{display:flex;flex-wrap:wrap;gap:.6rem}.card{flex:1 1 8rem;background:#fff;border:1px solid var(--bd);border-radius:6px;padding:.6rem .8rem;text-decoration:none;color:var(--fg)}
.card span{display:block;color:var(--mut)}.card b{font-size:1.5rem}.chart{width:100%;max-width:900px;background:#fff;border:1px solid var(--bd)}
.chart .ok{fill:var(--ok)}.chart .bad{fill:var(--bad)}.chart text{font-size:10px;fill:var(--mut)}
.st{display:inline-block;padding:0 .45rem;border-radius:9px;font-size:.8rem;background:#e9ecef}
.st-succeeded,.st-RUNNING{background:#d3f9d8}.st-failed,.st-FATAL,.st-EXITED{background:#ffe3e3}.st-running,.st-STARTING{background:#d0ebff}
.st-queued{background:#fff3bf}.st-BACKOFF,.st-cancelled,.st-expired{background:#ffe8cc}
form.act{display:inline;margin:0 .2rem 0 0}button{font:inherit;padding:.15rem .6rem;border:1px solid var(--bd);border-radius:4px;background:#fff;cursor:pointer}
button:hover{border-color:var(--acc)}button.danger{color:var(--bad)}.filters{display:flex;gap:.8rem;align-items:end;margin-bottom:.8rem}
.filters input,.filters select{font:inherit;padding:.15rem .3rem}pre{white-space:pre-wrap;word-break:break-word;background:#fff;border:1px solid var(--bd);padding:.5rem;margin:0}
dl{display:grid;grid-template-columns:max-content 1fr;gap:.2rem 1rem}dt{color:var(--mut)}dd{margin:0}
.ro{margin:0;padding:.4rem 1.2rem;background:#fff3bf;color:#5c4400}.pager a{margin-right:1rem}
)css";
}

std::string_view DashboardJs() {
  // Live refresh: every 2 s the page's <main> is fetched again and swapped in, unless the reader
  // is typing in a filter or the tab is hidden.
  return R"js((function(){
  var main=document.getElementById('main');if(!main)return;
  function busy(){var a=document.activeElement;return a&&(a.tagName==='INPUT'||a.tagName==='SELECT');}
  function tick(){
    if(document.hidden||busy())return;
    fetch(location.pathname+location.search,{headers:{'X-Drover-Partial':'1'},credentials:'same-origin'})
      .then(function(r){return r.ok?r.text():null;})
      .then(function(t){if(t!==null&&!busy())main.innerHTML=t;})
      .catch(function(){});
  }
  setInterval(tick,2000);
})();
)js";
}

}  // namespace drover
