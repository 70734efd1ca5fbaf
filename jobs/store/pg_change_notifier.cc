#include "jobs/store/pg_change_notifier.h"

#include "jobs/store/pg_store.h"

namespace drover {

Result<std::unique_ptr<ChangeNotifier>> PgChangeNotifier::Create(Pg* pg, std::string channel) {
  std::unique_ptr<PgChangeNotifier> n(new PgChangeNotifier(pg, std::move(channel)));
  DROVER_RETURN_IF_ERROR(n->Listen());
  return std::unique_ptr<ChangeNotifier>(std::move(n));
}

Status PgChangeNotifier::Listen() {
  std::string quoted = "\"";
  for (char c : channel_) quoted += c == '"' ? std::string("\"\"") : std::string(1, c);
  DROVER_RETURN_IF_ERROR(pg_->ExecScript("LISTEN " + quoted + "\"").Prefixed("listen for new jobs"));
  fd_replaced_ = generation_ >= 0;
  generation_ = pg_->generation();
  fd_ = pg_->socket();
  return Status::Ok();
}

void PgChangeNotifier::Drain() {
  if (pg_->generation() != generation_) {
    // A new session: listen again; whatever was sent meanwhile is lost, so count it a change.
    if (!pg_->Broken() && Listen().ok()) pending_ = true;
    return;
  }
  PGconn* c = pg_->handle();
  if (PQconsumeInput(c) != 1) return;  // the connection is gone: the next query reconnects
  const int self = PQbackendPID(c);
  while (PGnotify* n = PQnotifies(c)) {
    if (n->be_pid != self) pending_ = true;
    PQfreemem(n);
  }
}

bool PgChangeNotifier::Consume() {
  // A notification is sent after its commit: none of the caller's looking again for a change
  // not yet visible is needed, so only another's notification counts.
  Drain();
  return pending_;
}

bool PgChangeNotifier::Changed() {
  Drain();
  bool changed = pending_;
  pending_ = false;
  return changed;
}

}  // namespace drover
