// The SQLite store's housekeeping and its change notifier.
#include "jobs/store/sqlite_change_notifier.h"
#include "jobs/store/sqlite_store.h"

namespace drover {
namespace {
constexpr int kReleasePages = 2048;  // per call: 8 MiB of 4 KiB pages, a short write lock
}

Result<std::unique_ptr<ChangeNotifier>> SqliteJobStore::WatchChanges() {
  return SqliteChangeNotifier::Create(&db_, config_.database);
}

// One host: the lock file keeps droverds apart, and the one there leads.
Status SqliteJobStore::JoinNodes(const NodeInfo&, std::int64_t) { return Status::Ok(); }
Result<bool> SqliteJobStore::Heartbeat(const std::string&, bool, std::int64_t) { return true; }
Result<std::vector<std::int64_t>> SqliteJobStore::RescueDeadNodes(std::int64_t, std::int64_t) {
  return std::vector<std::int64_t>{};
}
Status SqliteJobStore::LeaveNodes(const std::string&) { return Status::Ok(); }
Result<std::vector<NodeStatus>> SqliteJobStore::Nodes(std::int64_t) {
  return Status::Unsupported("nodes are droverds sharing a PostgreSQL database; " + config_.database +
                             " is an SQLite file, served by one droverd");
}

Result<MaintenanceReport> SqliteJobStore::Maintain() {
  MaintenanceReport report;
  Result<int> released = ReleaseFreePages(kReleasePages);
  if (!released.ok()) return released.status();
  Result<std::int64_t> page_size = db_.PragmaInt("page_size");
  if (!page_size.ok()) return page_size.status();
  report.released_bytes = *released * *page_size;
  DROVER_RETURN_IF_ERROR(Checkpoint(false));
  return report;
}

Status SqliteJobStore::Checkpoint(bool truncate) {
  int rc = sqlite3_wal_checkpoint_v2(db_.handle(), nullptr,
                                     truncate ? SQLITE_CHECKPOINT_TRUNCATE : SQLITE_CHECKPOINT_PASSIVE,
                                     nullptr, nullptr);
  if (rc == SQLITE_OK || (rc & 0xff) == SQLITE_BUSY) return Status::Ok();
  return SqliteStatus(db_.handle(), rc, "checkpoint");
}

Result<int> SqliteJobStore::ReleaseFreePages(int max_pages) {
  Result<std::int64_t> free_pages = db_.PragmaInt("freelist_count");
  if (!free_pages.ok()) return free_pages.status();
  Result<std::int64_t> pages = db_.PragmaInt("page_count");
  if (!pages.ok()) return pages.status();
  if (*free_pages == 0 || *free_pages * 4 < *pages) return 0;
  DROVER_RETURN_IF_ERROR(db_.Exec("PRAGMA incremental_vacuum(" + std::to_string(max_pages) + ")")
                             .Prefixed("release free pages"));
  Result<std::int64_t> after = db_.PragmaInt("freelist_count");
  if (!after.ok()) return after.status();
  return static_cast<int>(*free_pages - *after);
}

}  // namespace drover
