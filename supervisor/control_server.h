// ControlServer: the supervisor's Unix socket (mode 0660). droverctl speaks line-delimited JSON:
// one request object per line, one response object per line. A client whose first bytes are an
// HTTP request line (supervisorctl, XML-RPC tools) is read as one HTTP request, answered once
// (perhaps later, see Respond), and disconnected. Non-blocking, driven by the supervisor's epoll
// loop; peers are identified by SO_PEERCRED. Not thread-safe.
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
#include "supervisor/http_request.h"

namespace drover {

inline constexpr size_t kMaxControlRequest = 64 * 1024;
// Connections held at once, in all and by one user (root's are not counted per user); more are
// disconnected at once, so one user cannot lock the others out or exhaust droverd's descriptors.
inline constexpr size_t kMaxControlClients = 256;
inline constexpr size_t kMaxControlClientsPerUser = 16;
// Connections held at once through the [http] listener, counted apart, so that whoever reaches the
// port cannot lock the socket's users out.
inline constexpr size_t kMaxHttpClients = 64;
// ... and by one address, so that one peer cannot hold them all (slow requests, event streams).
inline constexpr size_t kMaxHttpClientsPerAddress = 16;
// Answers a client has not read; past this it is disconnected.
inline constexpr size_t kMaxControlPendingOutput = 4 << 20;

class ControlServer {
 public:
  // Who is asking: the peer's credentials, and whether it may only enqueue (enqueue_group).
  struct Peer {
    ucred cred{};
    bool enqueue_only = false;
    bool tcp = false;     // from the [http] listener: no credentials known, HTTP only
    std::string address;  // tcp: the peer's IP address
  };
  // Turns one request line into one response line (without the newline).
  using Dispatch = std::function<std::string(const std::string& line, const Peer& peer)>;
  // Names one connection for a later answer; a closed connection's name is never reused.
  struct ClientRef {
    int fd = -1;
    std::uint32_t serial = 0;
  };
  // Turns one HTTP request into a whole HTTP response, or nullopt when the answer comes later
  // through Respond(client, ...).
  using HttpDispatch = std::function<std::optional<std::string>(const HttpRequest& request, const Peer& peer,
                                                                ClientRef client)>;

  ControlServer() = default;
  ~ControlServer();
  ControlServer(const ControlServer&) = delete;
  ControlServer& operator=(const ControlServer&) = delete;

  // Binds `path` (replacing a stale socket file) with mode 0660 (0666 when `enqueue_group` is
  // set) and, when `group` is set, that group, and registers with `epoll_fd`. Fails naming the
  // path or an unknown group.
  Status Listen(const std::string& path, const std::string& group, const std::string& enqueue_group,
                int epoll_fd);
  // Listens on `address` ([http] listen, "HOST:PORT") too: anyone who can connect may, so every
  // request there is HTTP and the dispatch decides on its credentials. Fails naming the address.
  Status ListenTcp(const std::string& address);
  // Events carry a token, epoll_event.data.u64: the fd in the low 32 bits and, for a client, its
  // serial in the high ones. An event the kernel reported for a descriptor that was closed earlier
  // in the same batch (whose number a new connection may already have) then matches nothing.
  bool Owns(std::uint64_t token) const;
  void OnEvent(std::uint64_t token, std::uint32_t events, const Dispatch& dispatch, const HttpDispatch& http);
  // Sends the answer an HTTP dispatch deferred, and closes the connection; nothing when the
  // client has gone meanwhile.
  void Respond(ClientRef client, const std::string& response) { Send(client, response, true); }
  // Sends part of a deferred answer (a stream), the last part when `last`. False when the client
  // has gone, or has not read what it was sent before (then it is disconnected).
  bool Send(ClientRef client, const std::string& data, bool last);
  // Bytes sent to the client that it has not read yet; 0 when it has gone.
  size_t Unsent(ClientRef client) const {
    auto it = clients_.find(client.fd);
    return it != clients_.end() && it->second.serial == client.serial ? it->second.out.size() : 0;
  }
  // True while the client is connected and waits for (more of) a deferred answer.
  bool Awaiting(ClientRef client) const {
    auto it = clients_.find(client.fd);
    return it != clients_.end() && it->second.serial == client.serial && it->second.awaiting;
  }
  // Drops clients silent for longer than `idle_us` or connected for longer than 6 * `idle_us`, and
  // [http] clients whose request has not arrived whole `idle_us` after they connected (a slow
  // sender), except those waiting for a deferred answer; resumes accepting after a pause for EMFILE.
  void CloseIdle(std::int64_t now_us, std::int64_t idle_us);
  // Closes every descriptor (children must not keep them); the socket file stays.
  void CloseAll();

 private:
  struct Client {
    UniqueFd fd;
    Peer peer;
    std::uint32_t serial = 0;  // never 0
    std::string in, out;
    std::int64_t connected_us = 0, last_us = 0;
    bool closing = false;
    bool spoke = false;     // sent anything yet
    bool http = false;      // decided by the first bytes
    bool awaiting = false;  // an HTTP request waits for Respond
    bool head = false;      // the request is a HEAD: its answer goes without a body
    HttpRequestReader http_reader;
  };
  // Root, the daemon's own user and members of socket_group (primary or supplementary) may talk
  // to the daemon, members of enqueue_group may enqueue; anyone else gets one error line and is
  // disconnected at once. Sets peer->enqueue_only.
  bool Allowed(int fd, Peer* peer) const;
  static void Refuse(int fd, const ucred& peer);
  void Accept(int listen_fd);
  void Flush(Client& c);
  void Drop(int fd);
  // Reads received bytes as droverctl lines, or as an HTTP request.
  void OnLines(Client& c, const Dispatch& dispatch);
  void OnHttp(Client& c, std::string_view data, const HttpDispatch& http);

  std::string path_;
  int epoll_fd_ = -1;
  UniqueFd listen_, tcp_listen_;
  std::map<int, Client> clients_;
  std::optional<gid_t> group_;          // socket_group's gid
  std::optional<gid_t> enqueue_group_;  // enqueue_group's gid
  std::int64_t accept_paused_until_us_ = 0;
  std::uint32_t next_serial_ = 1;
  bool dispatching_ = false;  // inside an HTTP dispatch
};

// Connects to the supervisor at `path`. NotFound when nothing listens there (daemon not
// running); IoError with a hint when permission is denied.
Result<UniqueFd> ControlConnect(const std::string& path);

// Connects to the supervisor at `path`, sends `request` (one line) and returns the response
// line. NotFound when nothing listens there (daemon not running); IoError with a hint when
// permission is denied.
Result<std::string> ControlRequest(const std::string& path, const std::string& request, int timeout_ms);

}  // namespace drover

#endif  // DROVER_SUPERVISOR_CONTROL_SERVER_H_
