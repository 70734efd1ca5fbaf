// Supervisor (supervisor_internal.h): what droverd answers over HTTP besides XML-RPC: GET
// /metrics, GET /events, and the dashboard's pages, assets and actions.

#include <spdlog/spdlog.h>
#include <string.h>
#include <sys/epoll.h>
#include <unistd.h>

#include <algorithm>

#include "common/logging.h"
#include "common/time_util.h"
#include "common/unique_fd.h"
#include "jobs/schedule_runner.h"
#include "supervisor/http/dashboard.h"
#include "supervisor/http/url.h"
#include "supervisor/process_init.h"
#include "supervisor/supervisor_internal.h"

namespace drover {

namespace {

constexpr int kJobsPageSize = 50;
// New jobs told as "enqueued" per look: a faster flood is told late, none left out.
constexpr int kMaxNewJobs = 2000;
// Queue and schedule figures read for a scrape or a page serve the next ones for this long; an
// older reading is not shown: the answer waits for a new one. So figures are at most this old plus
// one reading's time, and a scraper or an open dashboard costs the database at most one reading a
// second (readings never overlap: on a large table, one after the other while asked).
constexpr std::int64_t kStoreViewMaxAgeUs = 1'000'000;

// Pages may load only what droverd serves; no frame may embed them.
constexpr const char* kPageHeaders =
    "Content-Security-Policy: default-src 'none'; style-src 'self'; script-src 'self'; img-src 'self'; "
    "connect-src 'self'; form-action 'self'; frame-ancestors 'none'\r\n"
    "X-Content-Type-Options: nosniff\r\nReferrer-Policy: same-origin\r\nCache-Control: no-store\r\n";

std::string Html(int status, const std::string& body) {
  return HttpResponse(status, "text/html; charset=utf-8", body, kPageHeaders);
}

}  // namespace

std::set<std::string> Supervisor::HandlerTypes() const {
  std::set<std::string> types;
  for (const auto& [name, _] : handlers_.all()) types.insert(name);
  return types;
}

void Supervisor::StartWatching() {
  metrics_.emplace(config_, HandlerTypes());
  events_.emplace(&control_, &event_gate_);
  std::random_device rd;
  static constexpr char kHex[] = "0123456789abcdef";
  csrf_token_.clear();
  for (int i = 0; i < 32; ++i) csrf_token_ += kHex[rd() % 16];
}

void Supervisor::PublishProcessEvent(const Child& c, std::string_view event, nlohmann::json fields) {
  if (!events_) return;
  fields["name"] = c.name;
  if (c.pid > 0) fields["pid"] = c.pid;
  events_->Publish(EventJson("process", event, std::move(fields)));
}

void Supervisor::OnWatchReport(const Report& r) {
  switch (r.kind) {
    case Report::Kind::kTally:
      if (auto t = ParseTally(r.text)) metrics_->AddTally(t->first, t->second);
      break;
    case Report::Kind::kEvent:
      events_->Publish(r.text);
      break;
    case Report::Kind::kMissed:
      metrics_->AddMissed(r.text, r.count);
      break;
    default:
      break;
  }
}

std::optional<std::string> Supervisor::WithStoreView(ControlServer::ClientRef client, ViewAnswer answer) {
  if (store_view_ && MonotonicUs() - store_view_->read_us < kStoreViewMaxAgeUs) return answer(&*store_view_);
  RefreshStoreView();  // or join the reading under way
  view_waiters_.emplace_back(client, std::move(answer));
  return std::nullopt;
}

void Supervisor::RefreshStoreView() {
  if (view_reader_ > 0) return;
  Result<Pipe> p = MakePipe(false);
  if (!p.ok()) {
    spdlog::warn("cannot read the queue figures: {}", p.status().ToString());
    return FinishStoreView(nullptr);
  }
  const pid_t parent = getpid();
  const std::int64_t started_us = MonotonicUs();
  pid_t pid = ForkQuietly();
  if (pid < 0) {
    spdlog::warn("cannot read the queue figures: fork: {}", strerror(errno));
    return FinishStoreView(nullptr);
  }
  if (pid == 0) {  // the reader: one query's worth of work, then gone
    DropLoggers();
    int fds[] = {p->write.Release()};
    ResetChildAfterFork(fds, parent);
    StoreView v;
    v.read_us = started_us;
    Result<std::unique_ptr<JobStore>> store = OpenStore();
    Status s = store.status();
    if (s.ok()) {
      Result<std::vector<QueueStats>> queues = (*store)->Stats();
      Result<std::vector<ScheduleState>> schedules = queues.ok() ? (*store)->Schedules() : queues.status();
      s = schedules.status();
      if (s.ok()) {
        v.queues = std::move(queues).value();
        v.schedules = std::move(schedules).value();
      }
    }
    std::string out = s.ok() ? StoreViewJson(v) : "error: " + s.ToString();
    _exit(WriteAll(fds[0], out.data(), out.size()).ok() ? 0 : 1);
  }
  view_reader_ = pid;
  view_deadline_us_ = started_us + kStoreViewTimeoutUs;
  view_text_.clear();
  SetNonBlocking(p->read.get(), true).ok();
  view_pipe_ = std::move(p->read);
  AddFd(view_pipe_.get());
}

void Supervisor::OnStoreViewData() {
  char buf[65536];
  ssize_t n;
  while ((n = read(view_pipe_.get(), buf, sizeof buf)) > 0) view_text_.append(buf, static_cast<size_t>(n));
  if (n < 0 && (errno == EAGAIN || errno == EINTR)) return;
  // The end: the reader is done (the reaper collects it like any stray child).
  epoll_ctl(epoll_.get(), EPOLL_CTL_DEL, view_pipe_.get(), nullptr);
  view_pipe_.Reset();
  view_reader_ = 0;
  if (view_text_.rfind("error: ", 0) == 0) {
    spdlog::warn("cannot read the queue figures: {}", view_text_.substr(7));
    return FinishStoreView(nullptr);
  }
  Result<StoreView> v = ParseStoreView(view_text_);
  if (!v.ok()) {
    spdlog::warn("cannot read the queue figures: {}",
                 view_text_.empty() ? "the reader died" : v.status().ToString());
    return FinishStoreView(nullptr);
  }
  store_view_ = std::move(v).value();
  FinishStoreView(&*store_view_);
}

void Supervisor::FinishStoreView(const StoreView* view) {
  for (auto& [client, answer] : std::exchange(view_waiters_, {})) control_.Respond(client, answer(view));
}

void Supervisor::PollNewJobs() {
  const std::int64_t now = MonotonicUs();
  if (now < new_jobs_next_us_) return;
  new_jobs_next_us_ = now + kNewJobsPollUs;
  if (new_jobs_after_ < 0) return MarkNewJobsStart();
  Result<std::unique_ptr<JobStore>> store = OpenStore();
  if (!store.ok()) return;
  Result<std::vector<JobRef>> jobs = (*store)->JobsAfter(new_jobs_after_, kMaxNewJobs);
  if (!jobs.ok()) return;
  for (const JobRef& j : *jobs) {
    events_->Publish(EventJson("job", "enqueued", {{"id", j.id}, {"queue", j.queue}, {"type", j.type}}));
  }
  if (!jobs->empty()) new_jobs_after_ = jobs->back().id;
}

void Supervisor::MarkNewJobsStart() {
  Result<std::unique_ptr<JobStore>> store = OpenStore();
  if (!store.ok()) return;
  Result<std::vector<JobRef>> newest = (*store)->JobsAfter(-1, 1);
  if (newest.ok()) new_jobs_after_ = newest->empty() ? 0 : newest->front().id;
}

std::vector<ProcessRow> Supervisor::ProcessRows(bool draining) {
  std::vector<const Child*> listed(children_.size());
  std::transform(children_.begin(), children_.end(), listed.begin(), [](const auto& c) { return c.get(); });
  if (draining) {
    std::vector<const Child*> more = DrainingChildren();
    listed.insert(listed.end(), more.begin(), more.end());
  }
  std::vector<ProcessRow> rows;
  for (const Child* c : listed) {
    ProcessRow& row = rows.emplace_back();
    row.name = ListedName(*c);
    row.state = ProcStateName(c->life.state());
    row.pid = c->pid;
    row.started_ms = c->alive() ? c->started_wall_ms : 0;
    row.restarts = c->restarts;
    row.last_exit = c->last_exit;
    for (const auto& [name, r] : c->runners) row.runners.push_back({name, r.state, r.failures, r.last_error});
  }
  return rows;
}

std::string Supervisor::Scrape(const StoreView* view) {
  if (!view) return HttpResponse(503, "text/plain", "the database cannot be read now; see droverd's log\n");
  Metrics::Snapshot now{view->queues, view->schedules, {}, NowMs()};
  // Not the draining ones: a process series per pid would never end.
  for (const ProcessRow& p : ProcessRows(false)) {
    Metrics::Process& m = now.processes.emplace_back();
    m.name = p.name;
    m.up = p.pid > 0;
    m.restarts = p.restarts;
    for (const ProcessRow::Runner& r : p.runners)
      m.runners.push_back({r.name, r.state == "ready", r.failures});
  }
  return HttpResponse(200, "text/plain; version=0.0.4; charset=utf-8", metrics_->Render(now));
}

std::optional<std::string> Supervisor::OnWeb(const HttpRequest& r, ControlServer::ClientRef client,
                                             bool may_change) {
  auto [path, query] = SplitTarget(r.target);
  if (r.method == "POST") return WebAction(r, path, may_change);
  if (r.method != "GET" && r.method != "HEAD") return HttpResponse(405, "text/plain", "GET or POST\n");
  if (path == "/metrics") return WithStoreView(client, [this](const StoreView* v) { return Scrape(v); });
  if (path == "/events") {
    bool follow = false;
    Result<EventFilter> f = EventFilter::FromQuery(query, &follow);
    if (!f.ok()) return HttpResponse(400, "text/plain", f.status().message() + "\n");
    // The first follower's "enqueued" events start before it hears anything: a job enqueued once
    // the stream is seen open is told.
    if (follow && new_jobs_after_ < 0) MarkNewJobsStart();
    return events_->Open(client, *f, follow);
  }
  if (path == "/assets/drover.css")
    return HttpResponse(200, "text/css", DashboardCss(), "Cache-Control: max-age=300\r\n");
  if (path == "/assets/drover.js")
    return HttpResponse(200, "text/javascript", DashboardJs(), "Cache-Control: max-age=300\r\n");
  if (path == "/favicon.ico") return HttpResponse(204, "text/plain", "");

  PageContext c{config_.supervisor.node, csrf_token_, may_change, "", r.target, NowMs()};
  if (!may_change) {
    c.why_not_act = config_.http.read_only ? "[http] read_only = true"
                                           : "actions need [http] auth (a token or password file)";
  }
  const bool partial = !r.Header("x-drover-partial").empty();
  if (path == "/" || path == "/queues") {
    return WithStoreView(client, [this, c, path, partial](const StoreView* v) {
      if (!v) return Html(503, MessagePage(c, "The database cannot be read", "see droverd's log"));
      if (path == "/queues") return Html(200, QueuesPage(c, v->queues, partial));
      return Html(200, OverviewPage(c, v->queues, metrics_->LastHour(c.now_ms), ProcessRows(), partial));
    });
  }
  if (path == "/processes") return Html(200, ProcessesPage(c, ProcessRows(), partial));
  Result<std::unique_ptr<JobStore>> store = OpenStore();
  if (!store.ok())
    return Html(503, MessagePage(c, "The database cannot be opened", store.status().ToString()));
  if (path == "/schedules") {
    Result<std::vector<ScheduleState>> s = (*store)->Schedules();
    if (!s.ok()) return Html(503, MessagePage(c, "The database cannot be read", s.status().ToString()));
    return Html(200, SchedulesPage(c, *s, partial));
  }
  if (path == "/jobs") {
    std::map<std::string, std::string> form = ParseForm(query);
    JobsQuery q;
    q.filter.limit = kJobsPageSize + 1;
    if (!form["state"].empty()) {
      std::optional<JobState> state = ParseJobState(form["state"]);
      if (!state) return Html(400, MessagePage(c, "No such state", form["state"]));
      q.filter.states = {*state};
    }
    if (!form["queue"].empty()) q.filter.queues = {form["queue"]};
    if (!form["type"].empty()) q.filter.types = {form["type"]};
    if (!form["before"].empty()) {
      char* end = nullptr;
      q.filter.before_id = std::strtoll(form["before"].c_str(), &end, 10);
      if (*end) return Html(400, MessagePage(c, "Bad page", form["before"]));
    }
    Result<std::vector<Job>> jobs = (*store)->List(q.filter);
    if (!jobs.ok()) return Html(503, MessagePage(c, "The database cannot be read", jobs.status().ToString()));
    q.filter.limit = kJobsPageSize;
    return Html(200, JobsPage(c, q, *jobs, partial));
  }
  if (path.rfind("/jobs/", 0) == 0) {
    char* end = nullptr;
    std::int64_t id = std::strtoll(path.c_str() + 6, &end, 10);
    if (*end || id <= 0) return Html(404, MessagePage(c, "No such page", path));
    Result<Job> job = (*store)->Get(id);
    if (!job.ok()) return Html(404, MessagePage(c, "Job " + std::to_string(id), job.status().message()));
    return Html(200, JobPage(c, *job, partial));
  }
  return Html(404, MessagePage(c, "No such page", path));
}

std::string Supervisor::WebAction(const HttpRequest& r, const std::string& path, bool may_change) {
  // /KIND/NAME/VERB
  size_t verb_at = path.rfind('/');
  size_t name_at = path.find('/', 1);
  const std::string kind = name_at == std::string::npos ? "" : path.substr(1, name_at - 1);
  if (verb_at <= name_at ||
      !(kind == "processes" || kind == "queues" || kind == "schedules" || kind == "jobs"))
    return HttpResponse(404, "text/plain", "no such action: " + path + "\n");
  const std::string name = UrlDecode(path.substr(name_at + 1, verb_at - name_at - 1)),
                    verb = path.substr(verb_at + 1);
  if (!may_change) {
    return HttpResponse(403, "text/plain",
                        config_.http.read_only ? "forbidden: the [http] listener is read_only\n"
                                               : "forbidden: actions need [http] auth\n");
  }
  std::map<std::string, std::string> form = ParseForm(r.body);
  if (!SameSecret(form["csrf"], csrf_token_)) {
    return HttpResponse(403, "text/plain", "forbidden: missing or stale form token; reload the page\n");
  }
  Status done = Status::NotFound("no such action: " + path);
  if (kind == "processes") {
    Child* c = CurrentChild(name);
    if (!c) {
      done = Status::NotFound("no such process: " + name);
    } else if (verb == "restart" || verb == "stop" || verb == "start") {
      spdlog::info("dashboard: {} {}", verb, name);
      ProcessVerb(*c, verb);
      done = Status::Ok();
    }
  } else {
    Result<std::unique_ptr<JobStore>> opened = OpenStore();
    if (!opened.ok()) return HttpResponse(503, "text/plain", opened.status().ToString() + "\n");
    JobStore& store = **opened;
    if (kind == "queues" && (verb == "pause" || verb == "resume")) {
      done = store.SetQueuePaused(name, verb == "pause");
    } else if (kind == "schedules" && (verb == "pause" || verb == "resume")) {
      done = store.SetSchedulePaused(name, verb == "pause");
    } else if (kind == "schedules" && verb == "trigger") {
      auto s = config_.schedules.find(name);
      const JobTypeConfig* type = s == config_.schedules.end() ? nullptr : config_.FindJob(s->second.job);
      done = type ? store.TriggerSchedule(name, ScheduledRun(s->second, *type, NowMs())).status()
                  : Status::NotFound("no such schedule in " + config_.path + ": " + name);
    } else if (kind == "jobs") {
      char* end = nullptr;
      std::int64_t id = std::strtoll(name.c_str(), &end, 10);
      if (*end || id <= 0) {
        done = Status::NotFound("no such job: " + name);
      } else if (verb == "cancel") {
        Result<JobState> now = store.Cancel(id);
        done = now.status();
        // A queued job ends here; a running one ends in its worker, which tells the stream.
        if (now.ok() && *now == JobState::kCancelled) {
          if (Result<Job> job = store.Get(id); job.ok()) {
            events_->Publish(
                EventJson("job", "cancelled",
                          {{"id", id}, {"queue", job->queue}, {"type", job->type}, {"by", "dashboard"}}));
          }
        }
      } else if (verb == "retry") {
        done = store.Retry(id);
      } else if (verb == "delete") {
        done = store.Delete(id);
      }
    }
    if (done.ok()) {
      spdlog::info("dashboard: {} {} {}", verb, kind, name);
      store_view_.reset();  // the next page shows the change
    }
  }
  if (!done.ok()) {
    spdlog::warn("dashboard: {} {} {} failed: {}", verb, kind, name, done.ToString());
    return HttpResponse(done.code() == Status::Code::kNotFound ? 404 : 409, "text/plain",
                        done.ToString() + "\n");
  }
  std::string back = form["back"];
  // Only a path of this site: no other host, no header broken by a control character.
  if (back.empty() || back[0] != '/' || (back.size() > 1 && (back[1] == '/' || back[1] == '\\')) ||
      std::any_of(back.begin(), back.end(), [](unsigned char ch) { return ch < 0x20 || ch == 0x7f; })) {
    back = "/";
  }
  if (kind == "jobs" && verb == "delete" && back.rfind("/jobs/", 0) == 0) back = "/jobs";
  return HttpResponse(303, "text/plain", "done\n", "Location: " + back + "\r\n");
}

}  // namespace drover
