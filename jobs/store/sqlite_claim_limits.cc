// The SQLite store: claims under running limits (RunningLimit). SQLite has one writer, and a claim
// runs in a write transaction: counting the running jobs in it and claiming in the same
// transaction is atomic, so two workers can never both take a limit's last slot.
#include <nlohmann/json.hpp>

#include "jobs/store/limit_budget.h"
#include "jobs/store/sqlite_store.h"

namespace drover {
namespace {

nlohmann::json Json(const std::vector<std::string>& items) { return nlohmann::json(items); }
nlohmann::json Json(const std::vector<std::pair<std::string, std::string>>& pairs) {
  nlohmann::json out = nlohmann::json::array();
  for (const auto& [a, b] : pairs) out.push_back({a, b});
  return out;
}

}  // namespace

// Counts what runs of the limited types (the few running rows, through their partial index).
// When n more jobs fit whatever they are, claims as without limits; else takes the best ready
// jobs that fit, a page at a time. Each page leaves out the types and
// resources whose limits are full, so a held-back job never holds back the jobs behind it, and
// every page but the last takes at least one job.
Status SqliteJobStore::ClaimWithinLimits(const std::string& worker, const std::vector<std::string>& queues,
                                         int n, std::int64_t now, std::vector<ClaimedJob>* claimed) {
  LimitBudget budget(config_.limits);
  Result<Statement> running = db_.Prepare(
      "SELECT type, resource, count(*) FROM jobs INDEXED BY jobs_running "
      "WHERE state = 'running' AND type IN (SELECT value FROM json_each(?1)) GROUP BY type, resource");
  if (!running.ok()) return running.status();
  running->Bind(1, Json(budget.LimitedTypes()).dump());
  while (true) {
    Result<bool> row = running->Step();
    if (!row.ok()) return row.status().Prefixed("claim: count running jobs");
    if (!*row) break;
    budget.Add(running->Text(0), running->OptText(1), static_cast<int>(running->Int64(2)));
  }
  running->Reset();
  if (budget.Room(n)) return ClaimBest(worker, queues, n, now, claimed);

  // The queues as a list of values, not json_each: with one queue the ready index then gives the
  // order, and LIMIT stops the walk early instead of sorting every queued job.
  std::string in;
  for (size_t i = 0; i < queues.size(); ++i) in += (i ? ", ?" : "?") + std::to_string(7 + i);
  Result<Statement> page = db_.Prepare(
      "SELECT id, type, resource FROM jobs WHERE state = 'queued' "
      "  AND queue IN (" +
      in +
      ") AND run_at <= ?2 "
      "  AND (expires_at IS NULL OR expires_at > ?2) "
      "  AND type NOT IN (SELECT value FROM json_each(?3)) "
      "  AND (resource IS NULL OR NOT EXISTS (SELECT 1 FROM json_each(?4) AS p "
      "       WHERE json_extract(p.value, '$[0]') = jobs.type AND json_extract(p.value, '$[1]') = "
      "jobs.resource)) "
      "  AND id NOT IN (SELECT value FROM json_each(?5)) "
      "ORDER BY priority DESC, run_at, id LIMIT ?6");
  if (!page.ok()) return page.status();
  nlohmann::json picked = nlohmann::json::array();
  while (static_cast<int>(picked.size()) < n) {
    for (size_t i = 0; i < queues.size(); ++i) page->Bind(static_cast<int>(7 + i), queues[i]);
    page->Bind(2, now).Bind(3, Json(budget.FullTypes()).dump()).Bind(4, Json(budget.FullPairs()).dump());
    page->Bind(5, picked.dump()).Bind(6, n - static_cast<int>(picked.size()));
    bool any = false;
    while (true) {
      Result<bool> row = page->Step();
      if (!row.ok()) return row.status().Prefixed("claim");
      if (!*row) break;
      any = true;
      std::string type = page->Text(1);
      std::optional<std::string> resource = page->OptText(2);
      if (!budget.Fits(type, resource)) continue;  // filled by this page: left out of the next
      budget.Add(type, resource, 1);
      picked.push_back(page->Int64(0));
    }
    page->Reset();
    if (!any) break;
  }
  if (picked.empty()) return Status::Ok();
  Result<Statement> take =
      db_.Prepare(std::string(kClaimSet) +
                  "WHERE id IN (SELECT value FROM json_each(?4)) AND state = 'queued'" + kClaimReturning);
  if (!take.ok()) return take.status();
  take->Bind(1, worker).Bind(2, now).Bind(3, now + config_.lease.count()).Bind(4, picked.dump());
  while (true) {
    Result<bool> row = take->Step();
    if (!row.ok()) return row.status().Prefixed("claim");
    if (!*row) return Status::Ok();
    claimed->push_back(ReadClaimed(*take));
  }
}

}  // namespace drover
