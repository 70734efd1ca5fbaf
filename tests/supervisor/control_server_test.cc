#include "supervisor/control_server.h"

#include <gtest/gtest.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <vector>

#include "tests/temp_dir.h"

namespace drover {
namespace {

UniqueFd Connect(const std::string& path) {
  UniqueFd fd(socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  snprintf(addr.sun_path, sizeof addr.sun_path, "%s", path.c_str());
  EXPECT_EQ(connect(fd.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
  return fd;
}

class ControlServerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    epoll_.Reset(epoll_create1(EPOLL_CLOEXEC));
    ASSERT_TRUE(server_.Listen(path_, "", "", epoll_.get()).ok());
  }
  // One epoll_wait: the events the server would be handed.
  std::vector<epoll_event> Events() {
    std::vector<epoll_event> out(16);
    int n = epoll_wait(epoll_.get(), out.data(), static_cast<int>(out.size()), 1000);
    out.resize(n > 0 ? static_cast<size_t>(n) : 0);
    return out;
  }
  void Handle(const epoll_event& e) {
    server_.OnEvent(
        e.data.u64, e.events,
        [](const std::string& line, const ControlServer::Peer&) { return "echo " + line; },
        [](const HttpRequest& r, const ControlServer::Peer&, ControlServer::ClientRef)
            -> std::optional<std::string> { return HttpResponse(200, "text/plain", r.target); });
  }
  void HandleAll() {
    for (const epoll_event& e : Events()) Handle(e);
  }
  std::string ReadAll(int fd) {
    std::string out;
    char buf[4096];
    ssize_t n;
    while ((n = read(fd, buf, sizeof buf)) > 0) out.append(buf, static_cast<size_t>(n));
    return out;
  }

  TempDir dir_;
  std::string path_ = dir_.path() + "/ctl.sock";
  UniqueFd epoll_;
  ControlServer server_;
};

TEST_F(ControlServerTest, TellsHttpFromDroverctlLinesByTheFirstBytes) {
  UniqueFd line = Connect(path_), http = Connect(path_);
  HandleAll();  // accepts both
  ASSERT_TRUE(WriteAll(line.get(), "{\"cmd\":\"x\"}\n", 12).ok());
  std::string req = "GET /RPC2 HTTP/1.1\r\nHost: x\r\n\r\n";
  ASSERT_TRUE(WriteAll(http.get(), req.data(), req.size()).ok());
  HandleAll();
  char buf[256];
  ssize_t n = read(line.get(), buf, sizeof buf);
  ASSERT_GT(n, 0);
  EXPECT_EQ(std::string(buf, static_cast<size_t>(n)), "echo {\"cmd\":\"x\"}\n");
  std::string answer = ReadAll(http.get());  // answered, then closed
  EXPECT_EQ(answer.rfind("HTTP/1.1 200 OK\r\n", 0), 0u) << answer;
  EXPECT_EQ(answer.substr(answer.size() - 5), "/RPC2");
}

// An event the kernel reported for a client that was closed earlier in the same batch must not
// reach a new client that got the same descriptor number.
TEST_F(ControlServerTest, AStaleEventDoesNotReachANewClientOnTheSameFd) {
  UniqueFd first = Connect(path_);
  HandleAll();
  first.Reset();  // hangs up
  std::vector<epoll_event> stale = Events();
  ASSERT_EQ(stale.size(), 1u);
  Handle(stale[0]);  // the server closes it
  UniqueFd second = Connect(path_);
  HandleAll();       // accepted, on the number the first one had
  Handle(stale[0]);  // the old hang-up, as if later in the same batch
  ASSERT_EQ(send(second.get(), "{\"cmd\":\"y\"}\n", 12, MSG_NOSIGNAL), 12) << "the new client was dropped";
  HandleAll();
  char buf[256];
  ssize_t n = read(second.get(), buf, sizeof buf);
  ASSERT_GT(n, 0) << "the new client was dropped";
  EXPECT_EQ(std::string(buf, static_cast<size_t>(n)), "echo {\"cmd\":\"y\"}\n");
}

}  // namespace
}  // namespace drover
