// The PostgreSQL store: claims under running limits (RunningLimit). Several workers on several
// nodes claim at once, so the count of running jobs and the claim must not interleave: every
// claimer under limits first takes one transaction-scoped advisory lock per schema, then
// counts what runs (seeing every claim committed before it), then claims.
#include "jobs/store/limit_budget.h"
#include "jobs/store/pg_store.h"

namespace drover {

// Within the caller's transaction. When n more jobs fit whatever they are, claims as without
// limits; else takes the best ready jobs that fit, a page at a time. Each page leaves out the
// types and resources whose limits are full, so a held-back job never holds back the jobs
// behind it, and every page but the last takes at least one job.
Status PgJobStore::ClaimWithinLimits(const std::string& worker, const std::vector<std::string>& queues, int n,
                                     int start_now, std::int64_t now, std::vector<ClaimedJob>* claimed) {
  LimitBudget budget(config_.limits);
  PgParams lock;
  lock.Add("drover limits " + config_.schema);
  DROVER_RETURN_IF_ERROR(
      pg_.Exec("SELECT pg_advisory_xact_lock(hashtext($1))", lock).status().Prefixed("claim"));
  PgParams types;
  types.AddArray(budget.LimitedTypes());
  Result<PgResult> running = pg_.Exec(
      "SELECT type, resource, count(*) FROM jobs WHERE state = 'running' AND type = ANY($1::text[]) "
      "GROUP BY type, resource",
      types);
  if (!running.ok()) return running.status().Prefixed("claim: count running jobs");
  for (int i = 0; i < running->rows(); ++i) {
    budget.Add(running->Text(i, 0), running->OptText(i, 1), static_cast<int>(running->Int64(i, 2)));
  }
  const std::int64_t lease_end = now + config_.lease.count();
  auto take = [&](Result<PgResult> taken) -> Status {
    if (!taken.ok()) return taken.status().Prefixed("claim");
    for (int i = 0; i < taken->rows(); ++i) claimed->push_back(ReadClaimed(*taken, i));
    return Status::Ok();
  };
  if (budget.Room(n)) {
    return take(pg_.Exec(ClaimSql(queues.size() == 1, start_now < n),
                         ClaimParams(worker, now, lease_end, queues, n, start_now)));
  }
  {
    std::vector<std::int64_t> picked;
    while (static_cast<int>(picked.size()) < n) {
      std::vector<std::string> pair_types, pair_resources;
      for (auto& [t, r] : budget.FullPairs()) {
        pair_types.push_back(t);
        pair_resources.push_back(r);
      }
      PgParams p;
      p.AddArray(queues).Add(now).AddArray(budget.FullTypes()).AddArray(pair_types).AddArray(pair_resources);
      p.AddArray(picked).Add(n - static_cast<int>(picked.size()));
      Result<PgResult> page = pg_.Exec(
          "SELECT id, type, resource FROM jobs WHERE state = 'queued' AND queue = ANY(" + ActiveQueues("$1") +
              ") "
              "  AND run_at <= $2 AND (expires_at IS NULL OR expires_at > $2) "
              "  AND type <> ALL($3::text[]) "
              "  AND (resource IS NULL OR (type, resource) NOT IN (SELECT * FROM unnest($4::text[], "
              "$5::text[]))) "
              "  AND id <> ALL($6::bigint[]) "
              "ORDER BY priority DESC, run_at, id LIMIT $7 FOR UPDATE SKIP LOCKED",
          p);
      if (!page.ok()) return page.status().Prefixed("claim");
      if (page->rows() == 0) break;
      for (int i = 0; i < page->rows(); ++i) {
        std::string type = page->Text(i, 1);
        std::optional<std::string> resource = page->OptText(i, 2);
        if (!budget.Fits(type, resource)) continue;  // filled by this page: left out of the next
        budget.Add(type, resource, 1);
        picked.push_back(page->Int64(i, 0));
      }
    }
    if (picked.empty()) return Status::Ok();
    PgParams p;
    p.Add(worker).Add(now).Add(lease_end).AddArray(picked).Add(start_now);
    return take(
        pg_.Exec("WITH ranked AS (SELECT id, row_number() OVER (ORDER BY priority DESC, run_at, id) AS rank "
                 "  FROM jobs WHERE id = ANY($4::bigint[]) AND state = 'queued') " +
                     ClaimUpdate("$5"),
                 p));
  }
}

}  // namespace drover
