// PgChangeNotifier: LISTEN on the store's own connection. The job table's triggers NOTIFY on
// new jobs, jobs queued again, cancel requests and resumed queues; notifications carry the
// sending backend's pid, so this process's own are told apart. A notification that arrived
// while the connection ran a query waits in libpq: Consume() and Changed() pick those up too.
// After a reconnect it LISTENs again on the new session (FdReplaced tells the caller).
#ifndef DROVER_JOBS_STORE_PG_CHANGE_NOTIFIER_H_
#define DROVER_JOBS_STORE_PG_CHANGE_NOTIFIER_H_

#include <memory>
#include <string>
#include <utility>

#include "common/pg.h"
#include "jobs/store/change_notifier.h"

namespace drover {

class PgChangeNotifier final : public ChangeNotifier {
 public:
  // LISTENs on `channel` through `pg`, which must outlive the notifier.
  static Result<std::unique_ptr<ChangeNotifier>> Create(Pg* pg, std::string channel);

  int fd() const override { return fd_; }
  bool Consume() override;
  bool Changed() override;
  bool FdReplaced() override { return std::exchange(fd_replaced_, false); }

 private:
  PgChangeNotifier(Pg* pg, std::string channel) : pg_(pg), channel_(std::move(channel)) {}
  Status Listen();
  // Reads what the server sent and sorts the notifications: others' set pending_.
  void Drain();

  Pg* const pg_;
  const std::string channel_;
  int fd_ = -1;
  int generation_ = -1;
  bool pending_ = false;
  bool fd_replaced_ = false;
};

// A notifier for a backend or setting without wake-ups: fd -1, never a change (callers poll).
class NoChangeNotifier final : public ChangeNotifier {
 public:
  int fd() const override { return -1; }
  bool Consume() override { return false; }
  bool Changed() override { return false; }
};

}  // namespace drover

#endif  // DROVER_JOBS_STORE_PG_CHANGE_NOTIFIER_H_
