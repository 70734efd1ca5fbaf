#include "supervisor/control_server.h"

#include <arpa/inet.h>
#include <grp.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/epoll.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "common/config.h"
#include "common/time_util.h"

namespace drover {
namespace {

std::uint64_t Token(int fd, std::uint32_t serial) {
  return (static_cast<std::uint64_t>(serial) << 32) | static_cast<std::uint32_t>(fd);
}
int FdOf(std::uint64_t token) { return static_cast<int>(token & 0xffffffffu); }
std::uint32_t SerialOf(std::uint64_t token) { return static_cast<std::uint32_t>(token >> 32); }

// An HTTP response without its body (the answer to a HEAD request).
std::string HeadersOnly(std::string_view response) {
  size_t end = response.find("\r\n\r\n");
  return std::string(end == std::string_view::npos ? response : response.substr(0, end + 4));
}

// The IP address of a TCP peer, as text.
std::string AddressText(const sockaddr_storage& a) {
  char text[INET6_ADDRSTRLEN] = {};
  const void* ip = a.ss_family == AF_INET6
                       ? static_cast<const void*>(&reinterpret_cast<const sockaddr_in6&>(a).sin6_addr)
                       : static_cast<const void*>(&reinterpret_cast<const sockaddr_in&>(a).sin_addr);
  return inet_ntop(a.ss_family, ip, text, sizeof text) ? text : "?";
}

Result<sockaddr_un> Address(const std::string& path) {
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  if (path.size() >= sizeof addr.sun_path) {
    return Status::InvalidArgument("socket path " + path + " is longer than " +
                                   std::to_string(sizeof addr.sun_path - 1) + " bytes");
  }
  memcpy(addr.sun_path, path.data(), path.size());
  return addr;
}

// Clears the way for bind(): a socket file nobody answers on is left by a dead droverd and is
// removed. Anything else at the path is refused: a live socket belongs to another droverd
// (perhaps on another database), and a file that is not a socket is not ours to delete.
Status RemoveStaleSocket(const std::string& path, const sockaddr_un& addr) {
  struct stat st;
  if (lstat(path.c_str(), &st) != 0) {
    return errno == ENOENT ? Status::Ok() : Status::FromErrno("stat control socket " + path);
  }
  if (!S_ISSOCK(st.st_mode)) {
    return Status::InvalidArgument(
        "control socket path " + path +
        " exists and is not a socket; remove it or set another [supervisor] socket");
  }
  UniqueFd probe(socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (!probe) return Status::FromErrno("socket");
  if (connect(probe.get(), reinterpret_cast<const sockaddr*>(&addr), sizeof addr) == 0) {
    return Status::Busy("another process answers on control socket " + path +
                        " (another droverd?); stop it or set another [supervisor] socket");
  }
  if (unlink(path.c_str()) != 0 && errno != ENOENT) return Status::FromErrno("remove stale socket " + path);
  return Status::Ok();
}

// Like WriteAll, without SIGPIPE when the daemon has closed the connection (EPIPE instead).
Status SendAll(int fd, const std::string& data) {
  size_t done = 0;
  while (done < data.size()) {
    ssize_t n = send(fd, data.data() + done, data.size() - done, MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return Status::FromErrno("send control request");
    done += static_cast<size_t>(n);
  }
  return Status::Ok();
}

}  // namespace

ControlServer::~ControlServer() { CloseAll(); }

void ControlServer::CloseAll() {
  clients_.clear();
  listen_.Reset();
  tcp_listen_.Reset();
}

Status ControlServer::ListenTcp(const std::string& address) {
  Result<HostPort> hp = ParseListenAddress(address);
  if (!hp.ok()) return hp.status();
  sockaddr_storage addr{};
  socklen_t len = 0;
  bool v6 = hp->host.find(':') != std::string::npos;
  if (v6) {
    auto* a = reinterpret_cast<sockaddr_in6*>(&addr);
    a->sin6_family = AF_INET6;
    a->sin6_port = htons(static_cast<std::uint16_t>(hp->port));
    inet_pton(AF_INET6, hp->host.c_str(), &a->sin6_addr);
    len = sizeof *a;
  } else {
    auto* a = reinterpret_cast<sockaddr_in*>(&addr);
    a->sin_family = AF_INET;
    a->sin_port = htons(static_cast<std::uint16_t>(hp->port));
    inet_pton(AF_INET, hp->host.c_str(), &a->sin_addr);
    len = sizeof *a;
  }
  UniqueFd fd(socket(v6 ? AF_INET6 : AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0));
  if (!fd) return Status::FromErrno("socket for [http] listen " + address);
  int one = 1;
  setsockopt(fd.get(), SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  if (v6) setsockopt(fd.get(), IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one);
  if (bind(fd.get(), reinterpret_cast<sockaddr*>(&addr), len) != 0) {
    return Status::FromErrno("bind [http] listen " + address);
  }
  if (listen(fd.get(), 64) != 0) return Status::FromErrno("listen " + address);
  epoll_event ev{};
  ev.events = EPOLLIN;
  ev.data.u64 = Token(fd.get(), 0);
  if (epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, fd.get(), &ev) != 0) return Status::FromErrno("epoll_ctl");
  tcp_listen_ = std::move(fd);
  return Status::Ok();
}

Status ControlServer::Listen(const std::string& path, const std::string& group,
                             const std::string& enqueue_group, int epoll_fd) {
  if (!enqueue_group.empty()) {
    struct group* g = getgrnam(enqueue_group.c_str());
    if (g == nullptr)
      return Status::InvalidArgument("enqueue_group \"" + enqueue_group + "\" does not exist");
    enqueue_group_ = g->gr_gid;
  }
  Result<sockaddr_un> addr = Address(path);
  if (!addr.ok()) return addr.status();
  listen_.Reset(socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0));
  if (!listen_) return Status::FromErrno("socket");
  DROVER_RETURN_IF_ERROR(RemoveStaleSocket(path, *addr));
  // Born 0660 (no chmod by path afterwards, which a link swapped in meanwhile would redirect).
  mode_t old_umask = umask(enqueue_group_ ? 0111 : 0117);
  int bound = bind(listen_.get(), reinterpret_cast<sockaddr*>(&*addr), sizeof *addr);
  int bind_errno = errno;
  umask(old_umask);
  if (bound != 0)
    return Status::FromErrno("bind control socket " + path + " (does its directory exist?)", bind_errno);
  if (!group.empty()) {
    struct group* g = getgrnam(group.c_str());
    if (g == nullptr) return Status::InvalidArgument("socket_group \"" + group + "\" does not exist");
    group_ = g->gr_gid;
    if (lchown(path.c_str(), static_cast<uid_t>(-1), g->gr_gid) != 0) {
      return Status::FromErrno("chown " + path + " to group " + group);
    }
  }
  if (listen(listen_.get(), 64) != 0) return Status::FromErrno("listen " + path);
  epoll_event ev{};
  ev.events = EPOLLIN;
  ev.data.u64 = Token(listen_.get(), 0);
  if (epoll_ctl(epoll_fd, EPOLL_CTL_ADD, listen_.get(), &ev) != 0) return Status::FromErrno("epoll_ctl");
  path_ = path;
  epoll_fd_ = epoll_fd;
  return Status::Ok();
}

bool ControlServer::Allowed(int fd, Peer* peer) const {
  const ucred& cred = peer->cred;
  if (cred.uid == 0 || cred.uid == geteuid()) return true;
  // The peer's supplementary groups as they were at connect time.
  gid_t groups[256];
  socklen_t len = sizeof groups;
  if (getsockopt(fd, SOL_SOCKET, SO_PEERGROUPS, groups, &len) != 0) len = 0;
  auto member = [&](const std::optional<gid_t>& g) {
    return g && (cred.gid == *g ||
                 std::find(groups, groups + len / sizeof(gid_t), *g) != groups + len / sizeof(gid_t));
  };
  if (member(group_)) return true;
  peer->enqueue_only = member(enqueue_group_);
  return peer->enqueue_only;
}

void ControlServer::Refuse(int fd, const ucred& peer) {
  std::string msg = std::string("{\"ok\": false, \"error\": \"permission denied: uid ") +
                    std::to_string(peer.uid) +
                    " is not root, not the daemon's user and not in its socket_group\"}\n";
  (void)!send(fd, msg.data(), msg.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
  close(fd);
}

void ControlServer::Accept(int listen_fd) {
  const bool tcp = listen_fd == tcp_listen_.get();
  while (true) {
    sockaddr_storage from{};
    socklen_t from_len = sizeof from;
    int fd = accept4(listen_fd, reinterpret_cast<sockaddr*>(&from), &from_len, SOCK_CLOEXEC | SOCK_NONBLOCK);
    if (fd < 0) {
      if (errno == EMFILE || errno == ENFILE) {
        // Out of descriptors: stop accepting for a moment instead of waking up for the same
        // pending connection again and again.
        epoll_ctl(epoll_fd_, EPOLL_CTL_DEL, listen_.get(), nullptr);
        if (tcp_listen_) epoll_ctl(epoll_fd_, EPOLL_CTL_DEL, tcp_listen_.get(), nullptr);
        accept_paused_until_us_ = MonotonicUs() + 100'000;
      }
      return;
    }
    Client c;
    c.fd.Reset(fd);
    c.peer.tcp = tcp;
    if (tcp) c.peer.address = AddressText(from);
    if (!tcp) {
      socklen_t len = sizeof c.peer.cred;
      getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &c.peer.cred, &len);
      if (!Allowed(fd, &c.peer)) {
        Refuse(c.fd.Release(), c.peer.cred);
        continue;
      }
    }
    size_t held_over_tcp = 0;
    for (const auto& [other_fd, other] : clients_) held_over_tcp += other.peer.tcp;
    if (tcp ? held_over_tcp >= kMaxHttpClients : clients_.size() - held_over_tcp >= kMaxControlClients) {
      continue;  // closed at once: too many
    }
    if (tcp) {
      size_t same = 0;
      for (const auto& [other_fd, other] : clients_)
        same += other.peer.tcp && other.peer.address == c.peer.address;
      if (same >= kMaxHttpClientsPerAddress) continue;
    }
    if (!tcp && c.peer.cred.uid != 0) {
      size_t mine = 0;
      for (const auto& [other_fd, other] : clients_) mine += other.peer.cred.uid == c.peer.cred.uid;
      if (mine >= kMaxControlClientsPerUser) continue;
    }
    c.connected_us = c.last_us = MonotonicUs();
    c.serial = next_serial_++;
    if (next_serial_ == 0) next_serial_ = 1;
    epoll_event ev{};
    ev.events = EPOLLIN;
    ev.data.u64 = Token(fd, c.serial);
    if (epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, fd, &ev) != 0) continue;
    clients_.emplace(fd, std::move(c));
  }
}

void ControlServer::Drop(int fd) {
  epoll_ctl(epoll_fd_, EPOLL_CTL_DEL, fd, nullptr);
  clients_.erase(fd);
}

void ControlServer::Flush(Client& c) {
  while (!c.out.empty()) {
    ssize_t n = send(c.fd.get(), c.out.data(), c.out.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) break;
    if (n < 0) return Drop(c.fd.get());
    c.out.erase(0, static_cast<size_t>(n));
  }
  epoll_event ev{};
  ev.events = EPOLLIN | (c.out.empty() ? 0u : static_cast<std::uint32_t>(EPOLLOUT));
  ev.data.u64 = Token(c.fd.get(), c.serial);
  epoll_ctl(epoll_fd_, EPOLL_CTL_MOD, c.fd.get(), &ev);
  if (c.out.empty() && c.closing) Drop(c.fd.get());
}

bool ControlServer::Owns(std::uint64_t token) const {
  int fd = FdOf(token);
  if (SerialOf(token) == 0) return fd == listen_.get() || fd == tcp_listen_.get();
  auto it = clients_.find(fd);
  return it != clients_.end() && it->second.serial == SerialOf(token);
}

void ControlServer::OnEvent(std::uint64_t token, std::uint32_t events, const Dispatch& dispatch,
                            const HttpDispatch& http) {
  if (!Owns(token)) return;  // a descriptor closed earlier in this batch of events
  int fd = FdOf(token);
  if (SerialOf(token) == 0) return Accept(fd);
  auto it = clients_.find(fd);
  Client& c = it->second;
  c.last_us = MonotonicUs();
  if (events & EPOLLIN) {
    char buf[65536];
    while (!c.closing) {
      ssize_t n = recv(fd, buf, sizeof buf, MSG_DONTWAIT);
      if (n < 0 && errno == EINTR) continue;
      if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) break;
      if (n <= 0) {
        c.closing = true;
        break;
      }
      std::string_view data(buf, static_cast<size_t>(n));
      if (!c.spoke) {
        c.http = data[0] != '{' && LooksLikeHttp(data);
        c.spoke = true;
        if (c.peer.tcp && !c.http) {  // the [http] listener speaks HTTP only
          c.out = HttpResponse(400, "text/plain", "droverd's [http] listener speaks HTTP\n");
          c.closing = true;
          break;
        }
      }
      if (c.http) {
        OnHttp(c, data, http);
        continue;
      }
      c.in.append(data);
      if (c.in.size() > kMaxControlRequest && c.in.find('\n') == std::string::npos) {
        c.out += "{\"ok\":false,\"error\":\"request too large (limit 64 KiB)\"}\n";
        c.in.clear();
        c.closing = true;
        break;
      }
    }
    if (!c.http) {
      OnLines(c, dispatch);
      if (c.out.size() > kMaxControlPendingOutput) return Drop(fd);  // it does not read its answers
    }
  }
  if (events & (EPOLLHUP | EPOLLERR)) c.closing = true;
  Flush(c);
}

void ControlServer::OnLines(Client& c, const Dispatch& dispatch) {
  size_t nl;
  while ((nl = c.in.find('\n')) != std::string::npos) {
    if (nl > kMaxControlRequest) {  // a later line of the same read
      c.out += "{\"ok\":false,\"error\":\"request too large (limit 64 KiB)\"}\n";
      c.in.clear();
      c.closing = true;
      return;
    }
    std::string line = c.in.substr(0, nl);
    c.in.erase(0, nl + 1);
    if (!line.empty()) c.out += dispatch(line, c.peer) + "\n";
    if (c.out.size() > kMaxControlPendingOutput) return;
  }
}

void ControlServer::OnHttp(Client& c, std::string_view data, const HttpDispatch& http) {
  if (c.awaiting || !c.out.empty()) return;  // one request per connection; the rest is ignored
  switch (c.http_reader.Feed(data)) {
    case HttpRequestReader::State::kReading:
      return;
    case HttpRequestReader::State::kBad:
      c.out = HttpResponse(c.http_reader.error_status(), "text/plain", c.http_reader.error() + "\n");
      c.closing = true;
      return;
    case HttpRequestReader::State::kDone:
      break;
  }
  // Awaiting already, so that the dispatch may Send the first part of a stream.
  c.awaiting = true;
  c.head = c.http_reader.request().method == "HEAD";
  dispatching_ = true;
  std::optional<std::string> answer = http(c.http_reader.request(), c.peer, {c.fd.get(), c.serial});
  dispatching_ = false;
  if (!answer) return;
  c.awaiting = false;
  c.out += c.head ? HeadersOnly(*answer) : *answer;
  c.closing = true;
}

bool ControlServer::Send(ClientRef client, const std::string& data, bool last) {
  auto it = clients_.find(client.fd);
  if (it == clients_.end() || it->second.serial != client.serial || !it->second.awaiting) return false;
  Client& c = it->second;
  if (c.head) {  // a HEAD request: the first part's headers are the whole answer
    c.out += HeadersOnly(data);
    c.awaiting = false;
    c.closing = true;
    if (!dispatching_) Flush(c);
    return true;
  }
  if (dispatching_) {  // OnHttp flushes once the dispatch returns
    c.out += data;
    return true;
  }
  if (c.closing || c.out.size() > kMaxControlPendingOutput) {
    Drop(client.fd);
    return false;
  }
  c.out += data;
  if (last) {
    c.awaiting = false;
    c.closing = true;
  }
  Flush(c);
  return true;
}

void ControlServer::CloseIdle(std::int64_t now_us, std::int64_t idle_us) {
  std::vector<int> idle;
  for (auto& [fd, c] : clients_) {
    if (c.awaiting) continue;
    const bool slow_request = c.peer.tcp && c.out.empty() && now_us - c.connected_us > idle_us;
    if (slow_request || now_us - c.last_us > idle_us || now_us - c.connected_us > 6 * idle_us)
      idle.push_back(fd);
  }
  for (int fd : idle) Drop(fd);
  if (accept_paused_until_us_ > 0 && now_us >= accept_paused_until_us_) {
    accept_paused_until_us_ = 0;
    for (const UniqueFd* l : {&listen_, &tcp_listen_}) {
      if (!*l) continue;
      epoll_event ev{};
      ev.events = EPOLLIN;
      ev.data.u64 = Token(l->get(), 0);
      epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, l->get(), &ev);
    }
  }
}

Result<UniqueFd> ControlConnect(const std::string& path) {
  Result<sockaddr_un> addr = Address(path);
  if (!addr.ok()) return addr.status();
  UniqueFd fd(socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (!fd) return Status::FromErrno("socket");
  if (connect(fd.get(), reinterpret_cast<sockaddr*>(&*addr), sizeof *addr) != 0) {
    int err = errno;
    if (err == ENOENT || err == ECONNREFUSED) {
      return Status::NotFound("droverd is not running (nothing listens on " + path + ")");
    }
    if (err == EACCES || err == EPERM) {
      return Status::IoError("permission denied on " + path +
                             ": run as root or join the socket's group (usually `drover`)");
    }
    return Status::FromErrno("connect " + path, err);
  }
  return fd;
}

Result<std::string> ControlRequest(const std::string& path, const std::string& request, int timeout_ms) {
  Result<UniqueFd> fd = ControlConnect(path);
  if (!fd.ok()) return fd.status();
  std::string line = request + "\n";
  // A refused client is answered and disconnected before it speaks: then the send fails, and the
  // answer (the reason) is still there to read.
  Status sent = SendAll(fd->get(), line);
  std::string resp;
  std::int64_t deadline = MonotonicUs() + static_cast<std::int64_t>(timeout_ms) * 1000;
  while (resp.find('\n') == std::string::npos) {
    int left = static_cast<int>((deadline - MonotonicUs()) / 1000);
    if (left <= 0) return Status::Busy("droverd did not answer within " + std::to_string(timeout_ms) + " ms");
    pollfd p{fd->get(), POLLIN, 0};
    if (poll(&p, 1, left) <= 0) continue;
    char buf[65536];
    ssize_t n = read(fd->get(), buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      if (!sent.ok()) return sent;
      return Status::IoError("droverd closed the connection without answering");
    }
    resp.append(buf, static_cast<size_t>(n));
  }
  return resp.substr(0, resp.find('\n'));
}

}  // namespace drover
