// ControlServer: the supervisor's Unix socket (mode 0660). Line-delimited JSON: one request
// object per line, one response object per line. Non-blocking, driven by the supervisor's
// epoll loop; peers are identified by SO_PEERCRED. Not thread-safe.
#ifndef DROVER_SUPERVISOR_CONTROL_SERVER_H_
#define DROVER_SUPERVISOR_CONTROL_SERVER_H_

#include <sys/socket.h>

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>

#include "common/status.h"
#include "common/unique_fd.h"

namespace drover {

inline constexpr size_t kMaxControlRequest = 64 * 1024;
// Connections held at once, in all and by one user (root's are not counted per user); more are
// disconnected at once, so one user cannot lock the others out or exhaust droverd's descriptors.
inline constexpr size_t kMaxControlClients = 256;
inline constexpr size_t kMaxControlClientsPerUser = 16;
// Answers a client has not read; past this it is disconnected.
inline constexpr size_t kMaxControlPendingOutput = 4 << 20;

class ControlServer {
 public:
  // Who is asking: the peer's credentials, and whether it may only enqueue (enqueue_group).
  struct Peer {
    ucred cred{};
    bool enqueue_only = false;
  };
  // Turns one request line into one response line (without the newline).
  using Dispatch = std::function<std::string(const std::string& line, const Peer& peer)>;

  ControlServer() = default;
  ~ControlServer();
  ControlServer(const ControlServer&) = delete;
  ControlServer& operator=(const ControlServer&) = delete;

  // Binds `path` (replacing a stale socket file) with mode 0660 (0666 when `enqueue_group` is
  // set) and, when `group` is set, that group, and registers with `epoll_fd`. Fails naming the
  // path or an unknown group.
  Status Listen(const std::string& path, const std::string& group, const std::string& enqueue_group,
                int epoll_fd);
  bool Owns(int fd) const { return fd == listen_.get() || clients_.count(fd); }
  void OnEvent(int fd, std::uint32_t events, const Dispatch& dispatch);
  // Drops clients silent for longer than `idle_us` or connected for longer than 6 * `idle_us`;
  // resumes accepting after a pause for EMFILE.
  void CloseIdle(std::int64_t now_us, std::int64_t idle_us);
  // Closes every descriptor (children must not keep them); the socket file stays.
  void CloseAll();

 private:
  struct Client {
    UniqueFd fd;
    Peer peer;
    std::string in, out;
    std::int64_t connected_us = 0, last_us = 0;
    bool closing = false;
  };
  // Root, the daemon's own user and members of socket_group (primary or supplementary) may talk
  // to the daemon, members of enqueue_group may enqueue; anyone else gets one error line and is
  // disconnected at once. Sets peer->enqueue_only.
  bool Allowed(int fd, Peer* peer) const;
  static void Refuse(int fd, const ucred& peer);
  void Accept();
  void Flush(Client& c);
  void Drop(int fd);

  std::string path_;
  int epoll_fd_ = -1;
  UniqueFd listen_;
  std::map<int, Client> clients_;
  std::optional<gid_t> group_;          // socket_group's gid
  std::optional<gid_t> enqueue_group_;  // enqueue_group's gid
  std::int64_t accept_paused_until_us_ = 0;
};

// Connects to the supervisor at `path`, sends `request` (one line) and returns the response
// line. NotFound when nothing listens there (daemon not running); IoError with a hint when
// permission is denied.
Result<std::string> ControlRequest(const std::string& path, const std::string& request, int timeout_ms);

}  // namespace drover

#endif  // DROVER_SUPERVISOR_CONTROL_SERVER_H_
