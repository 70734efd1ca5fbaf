// droverctl's process verbs: requests over droverd's control socket.
#include "supervisor/ctl_process_verbs.h"

#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <iomanip>
#include <nlohmann/json.hpp>
#include <ostream>
#include <set>
#include <thread>

#include "supervisor/control_request.h"
#include "supervisor/control_server.h"
#include "supervisor/ctl_node_verbs.h"

namespace drover::ctl {
namespace {

// Sends one request; on failure prints why and sets *code.
std::optional<json> Call(CtlContext& ctx, const std::string& cmd, const Words& args, int* code) {
  Result<std::string> r = ControlRequest(ctx.config.supervisor.socket, ControlRequestLine(cmd, args), 30'000);
  Result<ControlAnswer> answer = r.ok() ? ParseControlAnswer(*r) : Result<ControlAnswer>(r.status());
  if (!answer.ok()) {
    bool down = answer.status().IsNotFound();  // nothing listens on the socket
    *code = Error(ctx, down ? kExitNotRunning : kExitError, down ? "not_running" : "error",
                  answer.status().message());
    return std::nullopt;
  }
  if (!answer->ok) {
    *code = Error(ctx, answer->error == ControlError::kNotFound ? kExitNotRunning : kExitError,
                  ControlErrorCode(answer->error), answer->message);
    return std::nullopt;
  }
  return answer->result;
}

std::string Uptime(double s) {
  long t = static_cast<long>(s);
  char buf[32];
  snprintf(buf, sizeof buf, "%ld:%02ld:%02ld", t / 3600, t / 60 % 60, t % 60);
  return buf;
}

}  // namespace

int ProcessStatus(CtlContext& ctx, const std::string&, const Words& words) {
  Words args = words;
  const bool all_nodes = std::erase(args, "--all-nodes") > 0;
  if (all_nodes && ctx.json)
    return Usage(ctx, "status", "--all-nodes is for people; scripts use `nodes --json`");
  int code = kExitOk;
  std::optional<json> r = Call(ctx, "status", args, &code);
  if (!r) return code;
  bool all_running = true;
  // A worker a reload replaced is finishing its jobs: nothing is wrong.
  for (const json& p : *r) all_running &= p["state"] == "RUNNING" || p["state"] == "DRAINING";
  if (ctx.json) {
    *ctx.out << r->dump(2) << "\n";
  } else {
    for (const json& p : *r) {
      std::string detail;
      if (p["state"] == "RUNNING" || p["state"] == "STARTING" || p["state"] == "DRAINING") {
        detail =
            "pid " + std::to_string(p["pid"].get<int>()) + ", uptime " + Uptime(p["uptime_s"].get<double>());
        if (!p["jobs"].empty()) {
          detail += ", jobs";
          for (const json& j : p["jobs"]) detail += " " + std::to_string(j.get<std::int64_t>());
        }
      } else if (p["state"] == "BACKOFF") {
        char buf[64];
        snprintf(buf, sizeof buf, "retry in %.1fs", p.value("retry_in_s", 0.0));
        detail = buf;
      }
      if (!p["last_exit"].is_null() && p["state"] != "RUNNING")
        detail += (detail.empty() ? "" : ", ") + std::string("last: ") + p["last_exit"].get<std::string>();
      if (p["restarts"].get<int>() > 0)
        detail += (detail.empty() ? "" : ", ") + std::to_string(p["restarts"].get<int>()) + " restart(s)";
      *ctx.out << std::left << std::setw(24) << p["name"].get<std::string>() << std::setw(10)
               << p["state"].get<std::string>() << detail << "\n";
      for (const json& runner : p.value("runners", json::array())) {  // those not ready only
        if (runner["state"] == "ready") continue;
        std::string about = std::to_string(runner["failures"].get<std::int64_t>()) + " failed start(s)";
        if (runner.contains("next_start_in_s")) {
          char buf[64];
          snprintf(buf, sizeof buf, ", next in %.1fs", runner["next_start_in_s"].get<double>());
          about += buf;
        }
        if (!runner["last_error"].get<std::string>().empty())
          about += ": " + runner["last_error"].get<std::string>();
        std::string state = runner["state"].get<std::string>();
        std::transform(state.begin(), state.end(), state.begin(),
                       [](unsigned char ch) { return std::toupper(ch); });
        *ctx.out << "  " << std::left << std::setw(22) << "runner " + runner["name"].get<std::string>()
                 << std::setw(10) << state << about << "\n";
      }
    }
  }
  if (all_nodes) {
    *ctx.out << "\n";
    int nodes = PrintNodes(ctx);
    if (nodes != kExitOk) return nodes;
  }
  return all_running ? kExitOk : kExitNotRunning;
}

int Tail(CtlContext& ctx, const std::string& verb, const Words& args) {
  bool follow = false;
  int n = 20;
  std::string name;
  for (size_t i = 0; i < args.size(); ++i) {
    if (args[i] == "-f")
      follow = true;
    else if (args[i] == "-n" && i + 1 < args.size())
      n = std::atoi(args[++i].c_str());
    else if (verb == "tail" && name.empty() && args[i][0] != '-')
      name = args[i];
    else
      return Usage(ctx, verb);
  }
  if (verb == "tail" && name.empty()) return Usage(ctx, verb);
  if (n <= 0) return Usage(ctx, verb);
  std::vector<std::string> seen;
  while (true) {
    int code = kExitOk;
    std::optional<json> r = Call(ctx, "tail", {name, std::to_string(follow ? 1000 : n)}, &code);
    if (!r) return code;
    std::vector<std::string> lines = r->get<std::vector<std::string>>();
    // In follow mode print what is new since the last look.
    size_t start = 0;
    if (!seen.empty()) {
      auto it = std::find(lines.rbegin(), lines.rend(), seen.back());
      start = it == lines.rend() ? 0 : static_cast<size_t>(lines.rend() - it);
    } else if (lines.size() > static_cast<size_t>(n)) {
      start = lines.size() - static_cast<size_t>(n);
    }
    if (ctx.json && !follow) {
      *ctx.out
          << json(std::vector<std::string>(lines.begin() + static_cast<long>(start), lines.end())).dump(2)
          << "\n";
    } else {
      for (size_t i = start; i < lines.size(); ++i) *ctx.out << lines[i] << "\n";
    }
    ctx.out->flush();
    if (!follow) return kExitOk;
    if (!lines.empty()) seen = {lines.back()};
    std::this_thread::sleep_for(std::chrono::milliseconds(500));
  }
}

int Avail(CtlContext& ctx, const std::string& verb, const Words& args) {
  if (!args.empty()) return Usage(ctx, verb);
  json names = json::array({"scheduler"});
  for (const auto& [name, pool] : ctx.config.pools) {
    for (int i = 0; i < pool.workers; ++i) names.push_back("worker:" + name + ":" + std::to_string(i));
  }
  if (ctx.json)
    *ctx.out << names.dump(2) << "\n";
  else
    for (const json& n : names) *ctx.out << n.get<std::string>() << "\n";
  return kExitOk;
}

int Control(CtlContext& ctx, const std::string& verb, const Words& args) {
  bool needs_names = verb == "start" || verb == "stop" || verb == "restart";
  if ((needs_names && args.empty()) || (verb == "signal" && args.size() < 2)) return Usage(ctx, verb);
  if ((verb == "reread" || verb == "update" || verb == "reload" || verb == "shutdown" || verb == "version") &&
      !args.empty()) {
    return Usage(ctx, verb);
  }
  int code = kExitOk;
  std::optional<json> r = Call(ctx, verb == "reload" ? "update" : verb, args, &code);
  if (!r) {
    if (verb == "version" && code == kExitNotRunning) *ctx.out << "droverctl " << DROVER_VERSION << "\n";
    return code;
  }
  if (ctx.json) {
    *ctx.out << r->dump(2) << "\n";
    return kExitOk;
  }
  if (verb == "version") {
    *ctx.out << "droverctl " << DROVER_VERSION << "\ndroverd " << r->get<std::string>() << "\n";
  } else if (verb == "pid") {
    if (r->is_array())
      for (const json& p : *r) *ctx.out << p.dump() << "\n";
    else
      *ctx.out << r->dump() << "\n";
  } else if (verb == "reread" || verb == "update" || verb == "reload") {
    bool any = false;
    for (const char* k : {"added", "changed", "resized", "removed"}) {
      for (const json& n : r->value(k, json::array())) {
        *ctx.out << n.get<std::string>() << ": " << k << "\n";
        any = true;
      }
    }
    for (const json& key : r->value("restart_required", json::array())) {
      *ctx.out << "supervisor." << key.get<std::string>()
               << ": changed; takes effect when droverd restarts\n";
      any = true;
    }
    if (!any) *ctx.out << "no changes\n";
  } else if (verb == "shutdown") {
    *ctx.out << "shutting down\n";
  } else if (verb == "signal") {
    for (const json& n : *r) *ctx.out << n.get<std::string>() << ": signalled\n";
  } else {  // start, stop, restart
    for (const json& p : *r)
      *ctx.out << p["name"].get<std::string>() << ": " << p["result"].get<std::string>() << "\n";
  }
  return kExitOk;
}

}  // namespace drover::ctl
