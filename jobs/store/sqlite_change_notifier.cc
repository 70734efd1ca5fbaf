#include "jobs/store/sqlite_change_notifier.h"

#include <fcntl.h>
#include <spdlog/spdlog.h>
#include <string.h>
#include <sys/inotify.h>
#include <unistd.h>

#include <filesystem>

namespace drover {

Result<std::unique_ptr<ChangeNotifier>> SqliteChangeNotifier::Create(SqliteDb* db, const std::string& path) {
  std::filesystem::path file(path);
  std::filesystem::path dir = file.parent_path().empty() ? "." : file.parent_path();
  UniqueFd inotify(inotify_init1(IN_CLOEXEC | IN_NONBLOCK));
  if (!inotify) return Status::FromErrno("inotify_init1");
  if (!Arm(inotify.get(), dir)) {
    spdlog::warn("cannot watch {} for new jobs ({}); falling back to polling every second", dir.string(),
                 strerror(errno));
  }
  Result<std::int64_t> version = db->PragmaInt("data_version");
  if (!version.ok()) return version.status();
  return std::unique_ptr<ChangeNotifier>(
      new SqliteChangeNotifier(db, std::move(inotify), dir, path + "-shm", *version));
}

// One-shot: a commit writes its WAL page by page, and each write would otherwise queue an event
// (an allocation and a wake-up in the writer's write call) for every watching worker. Disarmed
// by its first event, the watch costs the writes after it nothing until Consume() re-arms it.
bool SqliteChangeNotifier::Arm(int inotify, const std::filesystem::path& dir) {
  return inotify_add_watch(inotify, dir.c_str(), IN_MODIFY | IN_CREATE | IN_ONESHOT) >= 0;
}

bool SqliteChangeNotifier::Consume() {
  alignas(inotify_event) char buf[4096];
  bool any = false;
  while (read(inotify_.get(), buf, sizeof buf) > 0) any = true;
  if (!any) return false;
  // Re-armed before the caller's Changed(): a commit after the event that disarmed the watch is
  // either seen by that look or wakes the re-armed watch. Any event counts, even one for another
  // file in the directory: it may have disarmed the watch just before a WAL write.
  if (!Arm(inotify_.get(), dir_)) spdlog::warn("cannot watch {} again: {}", dir_.string(), strerror(errno));
  return true;
}

bool SqliteChangeNotifier::CommitInProgress() {
  constexpr off_t kWalWriteLock = 120;
  if (!shm_) shm_.Reset(open(shm_path_.c_str(), O_RDONLY | O_CLOEXEC));
  if (!shm_) return false;
  struct flock lk {};
  lk.l_type = F_WRLCK;
  lk.l_whence = SEEK_SET;
  lk.l_start = kWalWriteLock;
  lk.l_len = 1;
  // Reports a conflicting lock of another process (never this one's own).
  return fcntl(shm_.get(), F_GETLK, &lk) == 0 && lk.l_type != F_UNLCK;
}

bool SqliteChangeNotifier::Changed() {
  // data_version changes with every commit of another connection, never with this one's.
  Result<std::int64_t> v = db_->PragmaInt("data_version");
  if (!v.ok() || *v == version_) return false;
  version_ = *v;
  return true;
}

}  // namespace drover
