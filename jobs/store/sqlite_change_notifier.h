// SqliteChangeNotifier: another connection's commit writes the database's WAL file, which a
// one-shot inotify watch of its directory reports; PRAGMA data_version on this process's
// connection then tells whether a commit by someone else became visible. Without an inotify
// watch (a file system that has none) fd() never becomes readable and the caller's polling
// finds the changes.
#ifndef DROVER_JOBS_STORE_SQLITE_CHANGE_NOTIFIER_H_
#define DROVER_JOBS_STORE_SQLITE_CHANGE_NOTIFIER_H_

#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>

#include "common/sqlite.h"
#include "common/status.h"
#include "common/unique_fd.h"
#include "jobs/store/change_notifier.h"

namespace drover {

class SqliteChangeNotifier final : public ChangeNotifier {
 public:
  // Watches the WAL of the database at `path`, read through `db` (which must outlive it).
  static Result<std::unique_ptr<ChangeNotifier>> Create(SqliteDb* db, const std::string& path);

  int fd() const override { return inotify_.get(); }
  bool Consume() override;
  bool Changed() override;
  // Another process holds the WAL write lock: byte 120 of the -shm file, locked with fcntl by
  // SQLite's unix VFS (the WAL-index lock layout, sqlite.org/walformat.html §2.3.1). Its WAL
  // write woke us; the wal-index header that makes it visible follows at its commit's end
  // (after an fsync with synchronous = FULL).
  bool CommitInProgress() override;

 private:
  SqliteChangeNotifier(SqliteDb* db, UniqueFd inotify, std::filesystem::path dir, std::string shm_path,
                       std::int64_t version)
      : db_(db),
        inotify_(std::move(inotify)),
        dir_(std::move(dir)),
        shm_path_(std::move(shm_path)),
        version_(version) {}
  static bool Arm(int inotify, const std::filesystem::path& dir);

  SqliteDb* const db_;
  UniqueFd inotify_;
  const std::filesystem::path dir_;
  const std::string shm_path_;
  UniqueFd shm_;  // opened at first use
  std::int64_t version_;
};

}  // namespace drover

#endif  // DROVER_JOBS_STORE_SQLITE_CHANGE_NOTIFIER_H_
