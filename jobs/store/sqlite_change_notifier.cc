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
  if (inotify_add_watch(inotify.get(), dir.c_str(), IN_MODIFY | IN_CREATE) < 0) {
    spdlog::warn("cannot watch {} for new jobs ({}); falling back to polling every second", dir.string(),
                 strerror(errno));
  }
  Result<std::int64_t> version = db->PragmaInt("data_version");
  if (!version.ok()) return version.status();
  return std::unique_ptr<ChangeNotifier>(new SqliteChangeNotifier(
      db, std::move(inotify), file.filename().string() + "-wal", path + "-shm", *version));
}

bool SqliteChangeNotifier::Consume() {
  alignas(inotify_event) char buf[4096];
  bool relevant = false;
  ssize_t n;
  while ((n = read(inotify_.get(), buf, sizeof buf)) > 0) {
    for (char* p = buf; p < buf + n;) {
      auto* ev = reinterpret_cast<inotify_event*>(p);
      if (ev->len > 0 && wal_name_ == ev->name) relevant = true;
      p += sizeof(inotify_event) + ev->len;
    }
  }
  return relevant;
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
