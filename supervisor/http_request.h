// HttpRequestReader: reads one HTTP/1.1 request from a byte stream, for the XML-RPC endpoint of
// the control socket (supervisorctl and other supervisord clients speak HTTP there). Only what
// those clients send is understood: a request line, headers, and a body sized by Content-Length.
// Pure; not thread-safe.
#ifndef DROVER_SUPERVISOR_HTTP_REQUEST_H_
#define DROVER_SUPERVISOR_HTTP_REQUEST_H_

#include <cstddef>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace drover {

inline constexpr size_t kMaxHttpHeader = 16 * 1024;
// Larger bodies are read and thrown away, and the request is answered with an error.
inline constexpr size_t kMaxHttpBody = 1024 * 1024;

struct HttpRequest {
  std::string method;                          // "POST"
  std::string target;                          // "/RPC2"
  std::map<std::string, std::string> headers;  // names in lower case
  std::string body;
  bool body_too_large = false;  // the body was longer than kMaxHttpBody and was dropped
  // The header's value, or "" when absent. `name` in lower case.
  std::string Header(const std::string& name) const;
};

// Why an XML-RPC POST is refused as one a web page may have sent on a browser's behalf (CSRF),
// with the HTTP status that fits; nullopt when it is acceptable. A page can send a cross-site
// POST without asking only with a form's content types, so the body must be declared text/xml;
// and a browser's Origin or Sec-Fetch-Site, where present, must say the page is this server's.
struct HttpRefusal {
  int status;
  std::string why;
};
std::optional<HttpRefusal> CrossSiteXmlRpc(const HttpRequest& r);

// True when a request's Host header (`host`, "" when absent) names this listener: an IP address,
// localhost, or one of `names` (case aside), with any port. A browser sends the name of the page's
// own site, so a page whose name an attacker made resolve to this machine (DNS rebinding) is told
// apart; clients that send no Host are not browsers.
bool HostAllowed(std::string_view host, const std::vector<std::string>& names);

// True when `start`, the first bytes a client sent, begin an HTTP request rather than a
// droverctl request line (which starts with '{').
bool LooksLikeHttp(std::string_view start);

class HttpRequestReader {
 public:
  enum class State { kReading, kDone, kBad };

  // Consumes bytes of the stream; returns kDone once a whole request has been read (the rest of
  // `data` is ignored), kBad when it cannot be an acceptable request (then error() says why and
  // error_status() which HTTP status fits).
  State Feed(std::string_view data);
  const HttpRequest& request() const { return request_; }
  const std::string& error() const { return error_; }
  int error_status() const { return error_status_; }

 private:
  State Fail(int status, std::string why);
  State ParseHead(std::string_view head);

  State state_ = State::kReading;
  std::string head_;  // until the blank line
  bool in_body_ = false;
  size_t body_left_ = 0;
  HttpRequest request_;
  std::string error_;
  int error_status_ = 400;
};

// One chunk of a chunked HTTP response (never empty `data`: that ends the response).
std::string HttpChunk(std::string_view data);

// A whole HTTP/1.1 response that closes the connection: "HTTP/1.1 200 OK", Content-Type,
// Content-Length, "Connection: close", `extra_headers` (each line ending in CRLF) and `body`.
std::string HttpResponse(int status, std::string_view content_type, std::string_view body,
                         std::string_view extra_headers = "");

}  // namespace drover

#endif  // DROVER_SUPERVISOR_HTTP_REQUEST_H_
