#include "supervisor/http_request.h"

#include <gtest/gtest.h>

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

}  // namespace
}  // namespace drover
