// The PostgreSQL store: nodes (the droverds sharing the database), their heartbeats, the
// leader's lease and the rescue of a dead node's jobs. Every time here is the server's clock.
#include "common/time_util.h"
#include "jobs/store/open_job_store.h"
#include "jobs/store/pg_store.h"

namespace drover {

Status PgJobStore::JoinNodes(const NodeInfo& me, std::int64_t node_timeout_ms) {
  PgParams p;
  p.Add(me.name).Add(me.host).Add(me.pid).Add(me.version).Add(me.started_at_ms).Add(me.workers);
  p.Add(node_timeout_ms);
  const std::string now = kServerNowMs;
  Result<PgResult> r = pg_.Exec(
      "INSERT INTO nodes AS n (name, host, pid, version, started_at, heartbeat, workers) "
      "VALUES ($1, $2, $3, $4, $5, " +
          now +
          ", $6) "
          "ON CONFLICT (name) DO UPDATE SET host = excluded.host, pid = excluded.pid, version = "
          "excluded.version, "
          "  started_at = excluded.started_at, heartbeat = excluded.heartbeat, workers = excluded.workers, "
          "  stopped_at = NULL "
          "WHERE n.host = excluded.host OR n.stopped_at IS NOT NULL OR n.heartbeat < " +
          now + " - $7::bigint RETURNING name",
      p);
  if (!r.ok()) return r.status().Prefixed("register node " + me.name);
  if (r->rows() == 1) return Status::Ok();
  PgParams q;
  q.Add(me.name);
  Result<PgResult> holder =
      pg_.Exec("SELECT host, pid, " + now + " - heartbeat FROM nodes WHERE name = $1", q);
  std::string who = holder.ok() && holder->rows() == 1
                        ? " on host " + holder->Text(0, 0) + " (pid " + holder->Text(0, 1) + ", heard from " +
                              std::to_string(holder->Int64(0, 2) / 1000) + " s ago)"
                        : "";
  return Status::Conflict("node " + me.name + " is alive" + who +
                          "; give this droverd another [supervisor] node name, or stop that one");
}

Result<bool> PgJobStore::Heartbeat(const std::string& node, bool lead, std::int64_t node_timeout_ms) {
  const std::string now = kServerNowMs;
  PgBatch batch;
  PgParams beat;
  beat.Add(node);
  batch.Add("BEGIN");
  size_t beat_at = batch.Add(
      "UPDATE nodes SET heartbeat = " + now + " WHERE name = $1 AND stopped_at IS NULL", std::move(beat));
  size_t lead_at = 0;
  if (lead) {
    PgParams p;
    p.Add(node).Add(node_timeout_ms);
    lead_at = batch.Add("INSERT INTO leader AS l (id, node, until) VALUES (1, $1, " + now +
                            " + $2::bigint) "
                            "ON CONFLICT (id) DO UPDATE SET node = excluded.node, until = excluded.until "
                            "WHERE l.node = excluded.node OR l.until < " +
                            now + " RETURNING node",
                        std::move(p));
  }
  batch.Add("COMMIT");
  Result<std::vector<PgResult>> r = pg_.Run(batch);
  if (!r.ok()) return r.status().Prefixed("heartbeat of node " + node);
  if ((*r)[beat_at].affected() != 1) {
    return Status::NotFound("node " + node + " is not registered as running (stopped or taken over?)");
  }
  return lead && (*r)[lead_at].rows() == 1;
}

namespace {
constexpr const char* kSilent = "('node ' || split_part(worker, '/', 1) || ' went silent for ' || $3::text)";
}  // namespace

Result<std::vector<std::int64_t>> PgJobStore::RescueDeadNodes(std::int64_t now_ms,
                                                              std::int64_t node_timeout_ms) {
  PgParams p;
  p.Add(node_timeout_ms).Add(true).Add(std::to_string(node_timeout_ms / 1000) + " s").Add(now_ms);
  Result<PgResult> r =
      pg_.Exec(RecoverSet(kSilent, kSilent) +
                   "WHERE state = 'running' AND split_part(worker, '/', 1) IN (SELECT name FROM nodes "
                   "  WHERE stopped_at IS NULL AND heartbeat < " +
                   kServerNowMs + " - $1::bigint) RETURNING id",
               p);
  if (!r.ok()) return r.status().Prefixed("rescue the jobs of dead nodes");
  return Ids(*r);
}

// A claim is a heartbeat of the claimer's node (worker ids are "NODE/NAME@PID"), written only
// once the last one is ClaimBeatSlack old: the claims of a busy node's workers do not queue up
// on its row. After the claim in its transaction, as ExtendLeases: jobs rows, then the node's.
std::string PgJobStore::ClaimBeatSql() {
  const std::string now = kServerNowMs;
  return "UPDATE nodes SET heartbeat = " + now +
         " WHERE name = split_part($1, '/', 1) AND stopped_at IS NULL AND heartbeat < " + now +
         " - $2::bigint";
}

PgParams PgJobStore::ClaimBeatParams(const std::string& worker) const {
  PgParams p;
  p.Add(worker).Add(static_cast<std::int64_t>(ClaimBeatSlack(config_).count()));
  return p;
}

Status PgJobStore::LeaveNodes(const std::string& node) {
  PgBatch batch;
  PgParams stop, lead;
  stop.Add(node);
  lead.Add(node);
  batch.Add("BEGIN");
  batch.Add("UPDATE nodes SET stopped_at = " + std::string(kServerNowMs) + " WHERE name = $1",
            std::move(stop));
  batch.Add("DELETE FROM leader WHERE node = $1", std::move(lead));
  batch.Add("COMMIT");
  return pg_.Run(batch).status().Prefixed("node " + node + " leaves");
}

Result<std::vector<NodeStatus>> PgJobStore::Nodes(std::int64_t node_timeout_ms) {
  PgParams p;
  p.Add(node_timeout_ms);
  const std::string now = kServerNowMs;
  Result<PgResult> r = pg_.Exec(
      "SELECT n.name, n.host, n.pid, n.version, n.started_at, n.workers, n.heartbeat, n.stopped_at, "
      "  n.stopped_at IS NULL AND n.heartbeat >= " +
          now +
          " - $1::bigint, "
          "  coalesce((SELECT l.node = n.name FROM leader l WHERE l.until >= " +
          now +
          "), false), "
          "  (SELECT count(*) FROM jobs j WHERE j.state = 'running' AND starts_with(j.worker, n.name || "
          "'/')) "
          "FROM nodes n ORDER BY n.name",
      p);
  if (!r.ok()) return r.status().Prefixed("read nodes");
  std::vector<NodeStatus> out;
  for (int i = 0; i < r->rows(); ++i) {
    NodeStatus n;
    n.info.name = r->Text(i, 0);
    n.info.host = r->Text(i, 1);
    n.info.pid = r->Int64(i, 2);
    n.info.version = r->Text(i, 3);
    n.info.started_at_ms = r->Int64(i, 4);
    n.info.workers = static_cast<int>(r->Int64(i, 5));
    n.heartbeat_ms = r->Int64(i, 6);
    n.stopped_at_ms = r->OptInt64(i, 7);
    n.alive = r->Bool(i, 8);
    n.leader = r->Bool(i, 9);
    n.running_jobs = static_cast<int>(r->Int64(i, 10));
    out.push_back(std::move(n));
  }
  return out;
}

}  // namespace drover
