#include "supervisor/http_request.h"

#include <gtest/gtest.h>

#include <vector>

namespace drover {
namespace {

using State = HttpRequestReader::State;

TEST(HttpRequestTest, ReadsARequestFedOneByteAtATime) {
  std::string raw =
      "POST /RPC2 HTTP/1.1\r\nHost: localhost\r\nContent-Type: text/xml\r\nContent-Length: 5\r\n\r\nhello";
  HttpRequestReader r;
  for (size_t i = 0; i + 1 < raw.size(); ++i) ASSERT_EQ(r.Feed(raw.substr(i, 1)), State::kReading) << i;
  ASSERT_EQ(r.Feed(raw.substr(raw.size() - 1)), State::kDone);
  EXPECT_EQ(r.request().method, "POST");
  EXPECT_EQ(r.request().target, "/RPC2");
  EXPECT_EQ(r.request().Header("content-type"), "text/xml");
  EXPECT_EQ(r.request().body, "hello");
  EXPECT_FALSE(r.request().body_too_large);
}

TEST(HttpRequestTest, AGetNeedsNoBodyAndBytesAfterTheRequestAreIgnored) {
  HttpRequestReader r;
  // supervisorctl's log follower sends one blank line too many.
  ASSERT_EQ(r.Feed("GET /logtail/x/stdout HTTP/1.1\r\nHost: localhost\r\n\r\n\r\n"), State::kDone);
  EXPECT_EQ(r.request().method, "GET");
  EXPECT_EQ(r.request().body, "");
}

TEST(HttpRequestTest, ABodyOverTheLimitIsReadButDropped) {
  HttpRequestReader r;
  size_t size = kMaxHttpBody + 10;
  ASSERT_EQ(r.Feed("POST /RPC2 HTTP/1.1\r\nContent-Length: " + std::to_string(size) + "\r\n\r\n"),
            State::kReading);
  std::string chunk(64 * 1024, 'x');
  size_t sent = 0;
  while (sent + chunk.size() < size) {
    ASSERT_EQ(r.Feed(chunk), State::kReading);
    sent += chunk.size();
  }
  ASSERT_EQ(r.Feed(chunk.substr(0, size - sent)), State::kDone);
  EXPECT_TRUE(r.request().body_too_large);
  EXPECT_EQ(r.request().body, "");
}

TEST(HttpRequestTest, MalformedRequestsAreRefusedWithTheirStatus) {
  struct Case {
    std::string raw;
    int status;
  } cases[] = {
      {"POST /RPC2\r\n\r\n", 400},
      {"POST /RPC2 HTTP/1.1\r\nno colon here\r\n\r\n", 400},
      {"POST /RPC2 HTTP/1.1\r\nHost: x\r\n\r\n", 411},
      {"POST /RPC2 HTTP/1.1\r\nContent-Length: 12a\r\n\r\n", 400},
      {"POST /RPC2 HTTP/1.1\r\nContent-Length: 99999999999999999999\r\n\r\n", 400},
      {"POST /RPC2 HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n", 501},
      {"POST /RPC2 HTTP/1.1\r\nX: " + std::string(kMaxHttpHeader, 'a'), 431},
  };
  for (const Case& c : cases) {
    HttpRequestReader r;
    EXPECT_EQ(r.Feed(c.raw), State::kBad) << c.raw.substr(0, 60);
    EXPECT_EQ(r.error_status(), c.status) << c.raw.substr(0, 60);
    EXPECT_FALSE(r.error().empty());
  }
}

TEST(HttpRequestTest, TellsHttpFromADroverctlLine) {
  EXPECT_TRUE(LooksLikeHttp("POST /RPC2 HTTP/1.1"));
  EXPECT_TRUE(LooksLikeHttp("PO"));  // the first bytes may come alone
  EXPECT_TRUE(LooksLikeHttp("GET /"));
  EXPECT_FALSE(LooksLikeHttp("{\"cmd\": \"status\"}"));
  EXPECT_FALSE(LooksLikeHttp("POSTAL"));
  EXPECT_FALSE(LooksLikeHttp("hello"));
}

TEST(HttpRequestTest, AResponseClosesAndStatesItsLength) {
  std::string r = HttpResponse(200, "text/xml", "<x/>");
  EXPECT_EQ(r.rfind("HTTP/1.1 200 OK\r\n", 0), 0u) << r;
  EXPECT_NE(r.find("Content-Length: 4\r\n"), std::string::npos) << r;
  EXPECT_NE(r.find("Connection: close\r\n"), std::string::npos) << r;
  EXPECT_EQ(r.substr(r.size() - 8), "\r\n\r\n<x/>");
}

TEST(HttpRequestTest, HostsThatNameThisListener) {
  const std::vector<std::string> names = {"drover.example.org"};
  for (const char* host : {"", "127.0.0.1", "127.0.0.1:9750", "10.1.2.3:80", "[::1]:9750", "[fe80::1]",
                           "localhost", "LocalHost:9750", "drover.example.org", "DROVER.example.org:443"}) {
    EXPECT_TRUE(HostAllowed(host, names)) << host;
  }
  for (const char* host : {"evil.example", "evil.example:9750", "drover.example.org.evil.net",
                           "localhost.evil", "[not-an-ip]:1", "[::1", "127.0.0.1.nip.io"}) {
    EXPECT_FALSE(HostAllowed(host, names)) << host;
  }
}

HttpRequest XmlRpcPost(std::map<std::string, std::string> headers) {
  HttpRequest r;
  r.method = "POST";
  r.target = "/RPC2";
  r.headers = std::move(headers);
  return r;
}

TEST(HttpRequestTest, XmlRpcFromItsOwnClientsIsAccepted) {
  for (const auto& headers : std::vector<std::map<std::string, std::string>>{
           {{"content-type", "text/xml"}},  // supervisorctl, Python's xmlrpc.client
           {{"content-type", "Text/XML; charset=utf-8"}, {"host", "127.0.0.1:9750"}},
           {{"content-type", "text/xml"},
            {"host", "127.0.0.1:9750"},
            {"origin", "http://127.0.0.1:9750"},
            {"sec-fetch-site", "same-origin"}},
           {{"content-type", "text/xml"}, {"sec-fetch-site", "none"}}}) {
    EXPECT_FALSE(CrossSiteXmlRpc(XmlRpcPost(headers)).has_value()) << headers.at("content-type");
  }
}

// What a page on another site can make a browser send (with its stored Basic credentials).
TEST(HttpRequestTest, XmlRpcAsAWebPageWouldSendItIsRefused) {
  for (std::string type :
       {"", "text/plain", "application/x-www-form-urlencoded", "multipart/form-data", "text/xmlx"}) {
    std::optional<HttpRefusal> r = CrossSiteXmlRpc(XmlRpcPost({{"content-type", type}}));
    ASSERT_TRUE(r.has_value()) << type;
    EXPECT_EQ(r->status, 415) << type;
  }
  std::optional<HttpRefusal> r = CrossSiteXmlRpc(XmlRpcPost(
      {{"content-type", "text/xml"}, {"host", "127.0.0.1:9750"}, {"origin", "http://evil.example"}}));
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->status, 403);
  EXPECT_NE(r->why.find("Origin: http://evil.example"), std::string::npos) << r->why;
  r = CrossSiteXmlRpc(XmlRpcPost({{"content-type", "text/xml"}, {"sec-fetch-site", "cross-site"}}));
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->status, 403);
  r = CrossSiteXmlRpc(XmlRpcPost({{"content-type", "text/xml"}, {"sec-fetch-site", "same-site"}}));
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->status, 403);
  // What a header carries reaches the message escaped.
  r = CrossSiteXmlRpc(XmlRpcPost({{"content-type", "text/xml"}, {"origin", "http://a\x1b[2Jb"}}));
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->why.find('\x1b'), std::string::npos) << r->why;
}

}  // namespace
}  // namespace drover
