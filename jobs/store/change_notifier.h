// ChangeNotifier: tells an idle process that another process may have committed (new jobs, a
// cancel request), so it looks at once instead of at its next poll. Backends offer what they
// can: an fd that becomes readable around another connection's commit, or none at all (fd()
// is -1 and the caller's poll interval is the only wake-up). A wake-up may be spurious or come
// a moment before the commit is visible: the caller confirms with Changed() and, when that says
// no, looks again shortly. Not thread-safe.
#ifndef DROVER_JOBS_STORE_CHANGE_NOTIFIER_H_
#define DROVER_JOBS_STORE_CHANGE_NOTIFIER_H_

namespace drover {

class ChangeNotifier {
 public:
  virtual ~ChangeNotifier() = default;
  // Readable when a change may have happened; -1 when the backend has no such fd.
  virtual int fd() const = 0;
  // Consumes what made fd() readable, without blocking. True when it may have been another
  // connection's commit (then ask Changed()); the caller's own commits wake the fd too.
  virtual bool Consume() = 0;
  // True when another connection's commit became visible since the last call that returned
  // true. The caller's own commits do not count.
  virtual bool Changed() = 0;
  // True while another connection is in the middle of a commit whose change Changed() will see
  // within moments (worth a short wait rather than a later look). False when unknown.
  virtual bool CommitInProgress() { return false; }
  // True, once, after fd() became a new descriptor (a backend that reconnected): the old one is
  // closed, and the caller watches the new one.
  virtual bool FdReplaced() { return false; }
};

}  // namespace drover

#endif  // DROVER_JOBS_STORE_CHANGE_NOTIFIER_H_
