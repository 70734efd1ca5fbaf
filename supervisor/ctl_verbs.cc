#include "supervisor/ctl_verbs.h"

#include <algorithm>
#include <ostream>
#include <sstream>

#include "supervisor/ctl_bulk_verbs.h"
#include "supervisor/ctl_event_verbs.h"
#include "supervisor/ctl_job_verbs.h"
#include "supervisor/ctl_node_verbs.h"
#include "supervisor/ctl_process_verbs.h"
#include "supervisor/ctl_queue_verbs.h"

namespace drover {
namespace {

int Help(CtlContext& ctx, const std::string&, const std::vector<std::string>& args) {
  if (args.size() > 1) return ctl::Usage(ctx, "help");
  std::string h = VerbHelp(args.empty() ? "" : args[0]);
  if (h.empty()) return ctl::Error(ctx, kExitUsage, "usage", "unknown verb \"" + args[0] + "\"");
  *ctx.out << h;
  return kExitOk;
}

using K = VerbKind;
constexpr CtlVerb kVerbs[] = {
    {"status", "status [--all-nodes] [NAME|POOL:*|all ...]",
     "state, pid, uptime and current jobs of each process (exit 3 if any is not RUNNING); with "
     "--all-nodes also every node sharing the PostgreSQL database",
     K::kProcess, ctl::ProcessStatus},
    {"start", "start NAME|POOL:*|all ...", "start stopped processes", K::kProcess, ctl::Control},
    {"stop", "stop NAME|POOL:*|all ...", "stop processes gracefully (running jobs finish)", K::kProcess,
     ctl::Control},
    {"restart", "restart NAME|POOL:*|all ...",
     "replace processes: a new one starts, the old one finishes its jobs", K::kProcess, ctl::Control},
    {"signal", "signal SIGNAL NAME|POOL:*|all ...", "send a signal to processes", K::kProcess, ctl::Control},
    {"pid", "pid [NAME ...]", "pid of droverd, or of the named processes", K::kProcess, ctl::Control},
    {"tail", "tail [-f] [-n N] NAME", "last log lines of one process (needs [supervisor] log_file)",
     K::kProcess, ctl::Tail},
    {"maintail", "maintail [-f] [-n N]", "last lines of the whole log", K::kProcess, ctl::Tail},
    {"events", "events [-f] [--type T] [--queue Q] [--event E]",
     "job, process and schedule events, one per line: the recent ones, then (-f) new ones as they happen; "
     "--type a job type, --event an event or kind (failed, process)",
     K::kProcess, ctl::Events},
    {"reread", "reread", "show what a reload would change", K::kProcess, ctl::Control},
    {"update", "update", "reload the configuration and apply the changes", K::kProcess, ctl::Control},
    {"reload", "reload", "same as update", K::kProcess, ctl::Control},
    {"shutdown", "shutdown", "stop droverd gracefully", K::kProcess, ctl::Control},
    {"avail", "avail", "the processes the configuration defines", K::kLocal, ctl::Avail},
    {"version", "version", "versions of droverctl and droverd", K::kProcess, ctl::Control},
    {"enqueue",
     "enqueue TYPE [PAYLOAD_JSON|@FILE|-] [--queue Q] [--priority N] [--delay DUR|--at TIME] [--unique-key "
     "K] "
     "[--resource R] [--max-attempts N] [--expires-in DUR] [--via-socket] [--strict]",
     "add a job; prints its id", K::kJob, ctl::Enqueue},
    {"jobs",
     "jobs [--state S,..] [--type T,..] [--queue Q,..] [--resource R,..] [--after T] [--before T] [--limit "
     "N]",
     "list jobs, newest first", K::kJob, ctl::Jobs},
    {"show", "show ID", "every field of a job, its error history, progress and output", K::kJob, ctl::Show},
    {"cancel", "cancel ID ... | cancel FILTER ... [--yes]", "cancel queued jobs; stop running ones", K::kJob,
     ctl::Cancel},
    {"retry", "retry ID ... | retry FILTER ... [--yes]",
     "queue failed, cancelled or expired jobs again (with filters: --state failed unless given)", K::kJob,
     ctl::Retry},
    {"delete", "delete ID ... | delete FILTER ... [--yes]", "delete jobs that are not running", K::kJob,
     ctl::Delete},
    {"prune", "prune [--older-than DUR] [--state S] [--yes]",
     "delete finished jobs older than their retention (or DUR; never the last 5 minutes'); asks first on a "
     "terminal",
     K::kJob, ctl::Prune},
    {"stats", "stats", "jobs per queue and state, finished in the last 1 and 5 minutes, oldest waiting job",
     K::kJob, ctl::Stats},
    {"queues", "queues", "queues with their pools and paused state", K::kJob, ctl::Stats},
    {"pause", "pause QUEUE | pause --schedule NAME", "stop claiming from a queue, or stop a schedule's runs",
     K::kJob, ctl::PauseResume},
    {"resume", "resume QUEUE | resume --schedule NAME", "undo pause", K::kJob, ctl::PauseResume},
    {"nodes", "nodes",
     "the droverds sharing a PostgreSQL database: state, last heartbeat, leader, workers, "
     "running jobs",
     K::kJob, ctl::Nodes},
    {"schedules", "schedules", "periodic schedules: timing, next and last run, last job", K::kJob,
     ctl::Schedules},
    {"trigger", "trigger NAME", "enqueue a run of a schedule now", K::kJob, ctl::Trigger},
    {"wait", "wait ID ... [--timeout DUR]",
     "wait until jobs finish (exit 0 all succeeded, 1 otherwise, 3 timeout)", K::kJob, ctl::Wait},
    {"why", "why ID", "what holds a queued job back", K::kJob, ctl::Why},
    {"help", "help [VERB]", "this help", K::kLocal, Help},
};

}  // namespace

std::span<const CtlVerb> CtlVerbs() { return kVerbs; }

const CtlVerb* FindCtlVerb(std::string_view name) {
  for (const CtlVerb& v : kVerbs) {
    if (v.name == name) return &v;
  }
  return nullptr;
}

std::string VerbHelp(const std::string& verb) {
  if (!verb.empty()) {
    const CtlVerb* v = FindCtlVerb(verb);
    if (v == nullptr) return "";
    return "usage: droverctl " + std::string(v->usage) + "\n  " + std::string(v->what) + "\n";
  }
  std::vector<const CtlVerb*> sorted;
  for (const CtlVerb& v : kVerbs) sorted.push_back(&v);
  std::sort(sorted.begin(), sorted.end(),
            [](const CtlVerb* a, const CtlVerb* b) { return a->name < b->name; });
  std::ostringstream os;
  os << "usage: droverctl [-c FILE] [-s SOCKET] [--json] VERB [ARGS]   (no verb: interactive prompt)\n\n";
  for (const CtlVerb* v : sorted) {
    os << "  " << v->name << std::string(10 - std::min<size_t>(10, v->name.size()), ' ') << v->what << "\n";
  }
  os << "\nFILTER (cancel, retry, delete): --queue Q, --type T, --state S[,S...] (or repeated), --older-than "
        "DUR (enqueued "
        "over DUR ago);\n  counted and confirmed on a terminal (--yes: not asked), then done in short "
        "batches\n";
  os << "\nexit codes: 0 ok, 1 error, 2 usage, 3 not running / not found / timeout\n";
  return os.str();
}

}  // namespace drover
