#include "supervisor/ctl_node_verbs.h"

#include "common/time_util.h"

namespace drover::ctl {
namespace {

std::string StateOf(const NodeStatus& n) {
  if (n.stopped_at_ms) return "stopped";
  return n.alive ? "alive" : "dead";
}

}  // namespace

int PrintNodes(CtlContext& ctx) {
  Result<std::unique_ptr<JobStore>> store = OpenStore(ctx);
  if (!store.ok()) return Fail(ctx, store.status());
  Result<std::vector<NodeStatus>> nodes = (*store)->Nodes(ctx.config.supervisor.node_timeout.count());
  if (!nodes.ok()) return Fail(ctx, nodes.status());
  if (ctx.json) {
    json arr = json::array();
    for (const NodeStatus& n : *nodes) {
      arr.push_back({{"name", n.info.name},
                     {"state", StateOf(n)},
                     {"host", n.info.host},
                     {"pid", n.info.pid},
                     {"version", n.info.version},
                     {"started_at", FormatRfc3339(n.info.started_at_ms)},
                     {"last_heartbeat", FormatRfc3339(n.heartbeat_ms)},
                     {"leader", n.leader},
                     {"workers", n.info.workers},
                     {"running_jobs", n.running_jobs}});
    }
    *ctx.out << arr.dump(2) << "\n";
    return kExitOk;
  }
  std::vector<std::vector<std::string>> rows = {
      {"NODE", "STATE", "LAST HEARTBEAT", "LEADER", "WORKERS", "RUNNING", "HOST", "PID", "VERSION"}};
  for (const NodeStatus& n : *nodes) {
    rows.push_back({n.info.name, StateOf(n), Ago(n.heartbeat_ms), n.leader ? "yes" : "-",
                    std::to_string(n.info.workers), std::to_string(n.running_jobs), n.info.host,
                    std::to_string(n.info.pid), n.info.version});
  }
  if (nodes->empty()) {
    *ctx.out << "no node has started on this database yet\n";
  } else {
    PrintColumns(*ctx.out, rows);
  }
  return kExitOk;
}

int Nodes(CtlContext& ctx, const std::string&, const Words& args) {
  if (!args.empty()) return Usage(ctx, "nodes", "takes no arguments");
  return PrintNodes(ctx);
}

}  // namespace drover::ctl
