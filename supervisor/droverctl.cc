#include "supervisor/droverctl.h"

#include <editline/readline.h>
#include <unistd.h>

#include <iostream>
#include <map>
#include <sstream>

#include "common/escape.h"

namespace drover {
namespace {

struct VerbDoc {
  const char* usage;
  const char* what;
};

const std::map<std::string, VerbDoc>& Docs() {
  static const std::map<std::string, VerbDoc> docs = {
      {"status", {"status [NAME|POOL:*|all ...]", "state, pid, uptime and current jobs of each process (exit 3 if any is not RUNNING)"}},
      {"start", {"start NAME|POOL:*|all ...", "start stopped processes"}},
      {"stop", {"stop NAME|POOL:*|all ...", "stop processes gracefully (running jobs finish)"}},
      {"restart", {"restart NAME|POOL:*|all ...", "replace processes: a new one starts, the old one finishes its jobs"}},
      {"signal", {"signal SIGNAL NAME|POOL:*|all ...", "send a signal to processes"}},
      {"pid", {"pid [NAME ...]", "pid of droverd, or of the named processes"}},
      {"tail", {"tail [-f] [-n N] NAME", "last log lines of one process (needs [supervisor] log_file)"}},
      {"maintail", {"maintail [-f] [-n N]", "last lines of the whole log"}},
      {"reread", {"reread", "show what a reload would change"}},
      {"update", {"update", "reload the configuration and apply the changes"}},
      {"reload", {"reload", "same as update"}},
      {"shutdown", {"shutdown", "stop droverd gracefully"}},
      {"avail", {"avail", "the processes the configuration defines"}},
      {"version", {"version", "versions of droverctl and droverd"}},
      {"enqueue", {"enqueue TYPE [PAYLOAD_JSON|@FILE|-] [--queue Q] [--priority N] [--delay DUR|--at TIME] "
                   "[--unique-key K] [--max-attempts N] [--expires-in DUR]", "add a job; prints its id"}},
      {"jobs", {"jobs [--state S] [--type T] [--queue Q] [--limit N]", "list jobs, newest first"}},
      {"show", {"show ID", "every field of a job, its error history, progress and output"}},
      {"cancel", {"cancel ID ...", "cancel queued jobs; stop running ones"}},
      {"retry", {"retry ID ... | retry --failed [--type T]", "queue failed, cancelled or expired jobs again"}},
      {"delete", {"delete ID ...", "delete jobs that are not running"}},
      {"prune", {"prune [--older-than DUR] [--state S]", "delete finished jobs (default: all final states, older than 0s)"}},
      {"stats", {"stats", "jobs per queue and state, finished in the last 1 and 5 minutes, oldest waiting job"}},
      {"queues", {"queues", "queues with their pools and paused state"}},
      {"pause", {"pause QUEUE | pause --schedule NAME", "stop claiming from a queue, or stop a schedule's runs"}},
      {"resume", {"resume QUEUE | resume --schedule NAME", "undo pause"}},
      {"schedules", {"schedules", "periodic schedules: timing, next and last run, last job"}},
      {"trigger", {"trigger NAME", "enqueue a run of a schedule now"}},
      {"wait", {"wait ID ... [--timeout DUR]", "wait until jobs finish (exit 0 all succeeded, 1 otherwise, 3 timeout)"}},
      {"why", {"why ID", "what holds a queued job back"}},
      {"help", {"help [VERB]", "this help"}},
  };
  return docs;
}

}  // namespace

std::string VerbHelp(const std::string& verb) {
  const auto& docs = Docs();
  if (!verb.empty()) {
    auto it = docs.find(verb);
    if (it == docs.end()) return "";
    return std::string("usage: droverctl ") + it->second.usage + "\n  " + it->second.what + "\n";
  }
  std::ostringstream os;
  os << "usage: droverctl [-c FILE] [--json] VERB [ARGS]   (no verb: interactive prompt)\n\n";
  for (const auto& [name, doc] : docs) os << "  " << name << std::string(10 - std::min<size_t>(10, name.size()), ' ') << doc.what << "\n";
  os << "\nexit codes: 0 ok, 1 error, 2 usage, 3 not running / not found / timeout\n";
  return os.str();
}

int RunVerb(CtlContext& ctx, const std::vector<std::string>& words) {
  if (words.empty()) return kExitOk;
  std::vector<std::string> args(words.begin() + 1, words.end());
  const std::string& verb = words[0];
  if (verb == "help") {
    std::string h = VerbHelp(args.empty() ? "" : args[0]);
    if (h.empty()) {
      *ctx.err << "droverctl: unknown verb \"" << args[0] << "\"\n";
      return kExitUsage;
    }
    *ctx.out << h;
    return kExitOk;
  }
  if (IsProcessVerb(verb)) return RunProcessVerb(ctx, verb, args);
  if (IsJobVerb(verb)) return RunJobVerb(ctx, verb, args);
  *ctx.err << "droverctl: unknown verb \"" << verb << "\" (see `droverctl help`)\n";
  return kExitUsage;
}

namespace {

std::vector<std::string> SplitWords(const std::string& line) {
  std::vector<std::string> out;
  std::string cur;
  bool in_word = false;
  char quote = 0;
  for (char c : line) {
    if (quote) {
      if (c == quote) quote = 0;
      else cur += c;
    } else if (c == '\'' || c == '"') {
      quote = c;
      in_word = true;
    } else if (c == ' ' || c == '\t') {
      if (in_word) out.push_back(cur);
      cur.clear();
      in_word = false;
    } else {
      cur += c;
      in_word = true;
    }
  }
  if (in_word) out.push_back(cur);
  return out;
}

// The interactive prompt. On a terminal: line editing and history (kept in ~/.drover_history)
// through libedit, as supervisorctl has through readline; from a pipe: plain lines.
int Prompt(CtlContext& ctx) {
  const bool tty = isatty(STDIN_FILENO) && isatty(STDOUT_FILENO);
  std::string history;
  if (tty) {
    if (const char* home = getenv("HOME"); home && *home) history = std::string(home) + "/.drover_history";
    using_history();
    if (!history.empty()) read_history(history.c_str());
  }
  int last = kExitOk;
  while (true) {
    std::string line;
    if (tty) {
      char* raw = readline("drover> ");
      if (raw == nullptr) break;
      line = raw;
      free(raw);
      if (!SplitWords(line).empty()) add_history(line.c_str());
    } else if (!std::getline(std::cin, line)) {
      break;
    }
    std::vector<std::string> words = SplitWords(line);
    if (words.empty()) continue;
    if (words[0] == "exit" || words[0] == "quit") break;
    last = RunVerb(ctx, words);
    ctx.out->flush();
  }
  if (tty) {
    *ctx.out << "\n";
    if (!history.empty()) {
      stifle_history(1000);
      write_history(history.c_str());
    }
  }
  return last;
}

}  // namespace

int DroverctlMain(int argc, char** argv) {
  const char* env = getenv("DROVER_CONFIG");
  std::string path = env && *env ? env : "/etc/drover/drover.toml";
  // Job types, errors and results come from jobs and enqueuers: escape the control characters
  // in them (JSON output escapes them by itself) before they reach a terminal.
  EscapingStreambuf safe_out(std::cout.rdbuf()), safe_err(std::cerr.rdbuf());
  std::ostream out(&safe_out), err(&safe_err);
  CtlContext ctx;
  ctx.out = &out;
  ctx.err = &err;
  std::vector<std::string> words;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (words.empty() && (a == "-c" || a == "--config")) {
      if (i + 1 >= argc) {
        std::cerr << "droverctl: " << a << " needs a file\n";
        return kExitUsage;
      }
      path = argv[++i];
    } else if (a == "--json") {
      ctx.json = true;
    } else if (words.empty() && (a == "-h" || a == "--help")) {
      std::cout << VerbHelp("");
      return kExitOk;
    } else {
      words.push_back(a);
    }
  }
  Result<Config> config = LoadConfig(path);
  if (!config.ok()) {
    std::cerr << "droverctl: cannot use configuration:\n" << config.status().message()
              << "\n(give another with -c FILE or DROVER_CONFIG)\n";
    return kExitError;
  }
  ctx.config = std::move(config).value();
  if (words.empty()) return Prompt(ctx);
  return RunVerb(ctx, words);
}

}  // namespace drover
