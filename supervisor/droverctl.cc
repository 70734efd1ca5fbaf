#include "supervisor/droverctl.h"

#include <editline/readline.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <iostream>
#include <optional>
#include <regex>
#include <sstream>

#include "common/escape.h"
#include "supervisor/control_request.h"
#include "supervisor/control_server.h"
#include "supervisor/ctl_util.h"
#include "supervisor/ctl_verbs.h"

namespace drover {

int RunVerb(CtlContext& ctx, const std::vector<std::string>& words) {
  if (words.empty()) return kExitOk;
  const CtlVerb* verb = FindCtlVerb(words[0]);
  if (verb == nullptr) {
    return ctl::Error(ctx, kExitUsage, "usage", "unknown verb \"" + words[0] + "\" (see `droverctl help`)");
  }
  return verb->run(ctx, words[0], std::vector<std::string>(words.begin() + 1, words.end()));
}

namespace {

// The length of the JSON object or array at the start of `s` (brackets balanced outside strings),
// or npos when it does not close.
size_t JsonLength(std::string_view s) {
  int depth = 0;
  bool in_string = false, escaped = false;
  for (size_t i = 0; i < s.size(); ++i) {
    char c = s[i];
    if (in_string) {
      if (escaped)
        escaped = false;
      else if (c == '\\')
        escaped = true;
      else if (c == '"')
        in_string = false;
    } else if (c == '"') {
      in_string = true;
    } else if (c == '{' || c == '[') {
      ++depth;
    } else if ((c == '}' || c == ']') && --depth == 0) {
      return i + 1;
    }
  }
  return std::string_view::npos;
}

}  // namespace

std::vector<std::string> SplitPromptWords(const std::string& line) {
  std::vector<std::string> out;
  std::string cur;
  bool in_word = false;
  char quote = 0;
  for (size_t i = 0; i < line.size(); ++i) {
    char c = line[i];
    if (quote) {
      if (c == quote)
        quote = 0;
      else
        cur += c;
    } else if (!in_word && (c == '{' || c == '[')) {
      // A bare JSON payload is one word, its quotes kept: enqueue echo {"a": 1}.
      size_t n = JsonLength(std::string_view(line).substr(i));
      if (n == std::string_view::npos) n = line.size() - i;
      cur = line.substr(i, n);
      in_word = true;
      i += n - 1;
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

namespace {

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
      if (!SplitPromptWords(line).empty()) add_history(line.c_str());
    } else if (!std::getline(std::cin, line)) {
      break;
    }
    std::vector<std::string> words = SplitPromptWords(line);
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

// From a configuration that does not parse: the [supervisor] socket and database lines, if they
// can be read (a typo elsewhere must not lock the operator out of a running daemon). Relative
// paths are relative to the file, as in a valid configuration.
void SalvagePaths(const std::string& path, Config* config) {
  std::ifstream in(path);
  std::string line, section;
  const std::regex header(R"(^\s*\[([^\]]*)\]\s*(#.*)?$)");
  const std::regex key(R"re(^\s*(socket|database)\s*=\s*("([^"\\]*)"|'([^']*)')\s*(#.*)?$)re");
  std::filesystem::path dir = std::filesystem::absolute(path).parent_path();
  while (std::getline(in, line)) {
    std::smatch m;
    if (std::regex_match(line, m, header)) {
      section = m[1].str();
    } else if (section == "supervisor" && std::regex_match(line, m, key)) {
      std::string value = m[3].matched ? m[3].str() : m[4].str();
      if (value.empty()) continue;
      if (value[0] != '/' && !IsDatabaseUrl(value)) value = (dir / value).lexically_normal().string();
      (m[1] == "socket" ? config->supervisor.socket : config->supervisor.database) = value;
    }
  }
}

// The configuration the daemon listening on `socket` runs with, when it answers.
std::optional<Config> RunningConfig(const std::string& socket) {
  Result<std::string> line = ControlRequest(socket, ControlRequestLine("config", {}), 5'000);
  if (!line.ok()) return std::nullopt;
  Result<ControlAnswer> answer = ParseControlAnswer(*line);
  if (!answer.ok() || !answer->ok || !answer->result.is_object()) return std::nullopt;
  const nlohmann::json& r = answer->result;
  if (!r.value("path", nlohmann::json()).is_string() || !r.value("text", nlohmann::json()).is_string())
    return std::nullopt;
  Result<Config> config = ParseConfig(r["text"].get<std::string>(), r["path"].get<std::string>());
  if (!config.ok()) return std::nullopt;
  return std::move(config).value();
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
  const char* socket_env = getenv("DROVER_SOCKET");
  std::string socket = socket_env ? socket_env : "";
  std::vector<std::string> words;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (words.empty() && (a == "-c" || a == "--config")) {
      if (i + 1 >= argc) {
        std::cerr << "droverctl: " << a << " needs a file\n";
        return kExitUsage;
      }
      path = argv[++i];
    } else if (words.empty() && (a == "-s" || a == "--socket")) {
      if (i + 1 >= argc) {
        std::cerr << "droverctl: " << a << " needs a path\n";
        return kExitUsage;
      }
      socket = argv[++i];
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
  if (config.ok()) {
    ctx.config = std::move(config).value();
  } else {
    // Still reach a running daemon: through -s, or the socket line of the broken file (or the
    // default socket when it has none, as the daemon would). Every verb works when the daemon
    // answers with the configuration it runs with (say, after it rejected a reload of this file).
    ctx.config.path = path;
    const bool readable = static_cast<bool>(std::ifstream(path));
    if (!readable && socket.empty()) {
      return ctl::Error(ctx, kExitError, "config",
                        "cannot use configuration:\n" + config.status().message() +
                            "\n(give another with -c FILE or DROVER_CONFIG, or the socket with -s PATH)");
    }
    if (readable) SalvagePaths(path, &ctx.config);
    std::optional<Config> running = RunningConfig(socket.empty() ? ctx.config.supervisor.socket : socket);
    *ctx.err << "droverctl: warning: cannot use configuration:\n" << config.status().message() << "\n";
    if (running) {
      *ctx.err << "(using the configuration droverd runs with, " << running->path
               << " as it last loaded it)\n";
      ctx.config = std::move(*running);
    } else {
      *ctx.err << "(droverd does not answer: using only its [supervisor] socket and database lines, or the "
                  "defaults)\n";
    }
  }
  if (!socket.empty()) ctx.config.supervisor.socket = socket;
  if (words.empty()) return Prompt(ctx);
  return RunVerb(ctx, words);
}

}  // namespace drover
