// Test helpers for droverd's [http] listener: a free port, one raw exchange, and GET/POST with a
// token. Not thread-safe.
#ifndef DROVER_TESTS_INTEGRATION_HTTP_H_
#define DROVER_TESTS_INTEGRATION_HTTP_H_

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <string>

#include "common/unique_fd.h"

namespace drover::testing {

// A TCP port nothing listens on at the moment.
inline int FreePort() {
  UniqueFd fd(socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof addr;
  if (bind(fd.get(), reinterpret_cast<sockaddr*>(&addr), len) != 0) return 0;
  getsockname(fd.get(), reinterpret_cast<sockaddr*>(&addr), &len);
  return ntohs(addr.sin_port);
}

// Connects to 127.0.0.1:`port`; an invalid fd when that fails.
inline UniqueFd TcpConnect(int port) {
  UniqueFd fd(socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<std::uint16_t>(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (connect(fd.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) fd.Reset();
  return fd;
}

// What a client that connects to 127.0.0.1:`port` and sends `request` hears back.
inline std::string TcpExchange(int port, const std::string& request) {
  UniqueFd fd = TcpConnect(port);
  if (!fd) return "connect failed";
  if (!WriteAll(fd.get(), request.data(), request.size()).ok()) return "send failed";
  std::string out;
  char buf[4096];
  ssize_t n;
  while ((n = read(fd.get(), buf, sizeof buf)) > 0) out.append(buf, static_cast<size_t>(n));
  return out;
}

struct HttpReply {
  int status = 0;
  std::string head;  // status line and headers
  std::string body;
};

inline HttpReply ParseReply(const std::string& raw) {
  HttpReply r;
  size_t end = raw.find("\r\n\r\n");
  r.head = raw.substr(0, end);
  if (end != std::string::npos) r.body = raw.substr(end + 4);
  if (raw.size() > 12) r.status = std::atoi(raw.c_str() + 9);
  return r;
}

// GET `target` with `token` as a Bearer token ("" for none).
inline HttpReply HttpGet(int port, const std::string& target, const std::string& token = "") {
  return ParseReply(TcpExchange(port, "GET " + target + " HTTP/1.1\r\nHost: 127.0.0.1\r\n" +
                                          (token.empty() ? "" : "Authorization: Bearer " + token + "\r\n") +
                                          "Connection: close\r\n\r\n"));
}

// POST of a form (`body`, urlencoded) to `target`.
inline HttpReply HttpPost(int port, const std::string& target, const std::string& body,
                          const std::string& token = "") {
  return ParseReply(
      TcpExchange(port, "POST " + target + " HTTP/1.1\r\nHost: 127.0.0.1\r\n" +
                            (token.empty() ? "" : "Authorization: Bearer " + token + "\r\n") +
                            "Content-Type: application/x-www-form-urlencoded\r\nContent-Length: " +
                            std::to_string(body.size()) + "\r\nConnection: close\r\n\r\n" + body));
}

}  // namespace drover::testing

#endif  // DROVER_TESTS_INTEGRATION_HTTP_H_
