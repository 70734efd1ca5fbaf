// What a freshly forked child does before anything else, and small process-level helpers
// (title, systemd notification). Async-signal-safe where noted; not thread-safe.
#ifndef DROVER_SUPERVISOR_PROCESS_INIT_H_
#define DROVER_SUPERVISOR_PROCESS_INIT_H_

#include <sys/types.h>

#include <span>
#include <string>

namespace drover {

// Remembers the argv area so SetProcessTitle can overwrite it. Call once from main().
void InitProcessTitle(int argc, char** argv);
// Sets what `ps` shows ("drover: worker default#1") and the thread name (first 15 bytes).
void SetProcessTitle(const std::string& title);

// In the child right after fork: moves the fds in `keep` to 3, 4, ... (in that order, updating
// `keep`) and closes every other fd above 2, restores default signal dispositions and an
// empty mask, and asks for SIGKILL when the parent `parent` dies (exiting at once if it
// already has).
void ResetChildAfterFork(std::span<int> keep, pid_t parent);

// Makes every private writable page of this process its own now (copy-on-write broken, fresh
// pages allocated) instead of at first touch; mappings over `max_bytes` are left alone. For a
// forked child that waits before it works: each such fault costs ~15 µs on some VMs. Returns
// the bytes populated.
size_t PrefaultWritableMemory(size_t max_bytes);

// Tells malloc to keep freed memory for reuse instead of handing the top of the heap back to
// the kernel at 128 KiB and serving blocks over 128 KiB with mmap. SQLite drops and re-reads
// its page cache whenever another process commits, so with the defaults every claim shrank and
// regrew the heap, and a fresh page costs ~11 µs to fault on some VMs (a claim took 0.37 ms
// instead of 0.07 ms). Inherited by forked children; call before forking them.
void KeepFreedMemory();

// Sends `state` ("READY=1", "STOPPING=1", "WATCHDOG=1") to systemd when NOTIFY_SOCKET is set.
// Returns false when there is no socket or sending failed.
bool NotifySystemd(const std::string& state);

}  // namespace drover

#endif  // DROVER_SUPERVISOR_PROCESS_INIT_H_
