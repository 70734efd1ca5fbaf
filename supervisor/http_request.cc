#include "supervisor/http_request.h"

#include <arpa/inet.h>

#include <algorithm>
#include <cctype>

#include "common/escape.h"

namespace drover {
namespace {

std::string Lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

std::string_view Trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r')) s.remove_suffix(1);
  return s;
}

const char* Reason(int status) {
  switch (status) {
    case 200:
      return "OK";
    case 400:
      return "Bad Request";
    case 401:
      return "Unauthorized";
    case 403:
      return "Forbidden";
    case 404:
      return "Not Found";
    case 405:
      return "Method Not Allowed";
    case 411:
      return "Length Required";
    case 413:
      return "Content Too Large";
    case 415:
      return "Unsupported Media Type";
    case 421:
      return "Misdirected Request";
    case 429:
      return "Too Many Requests";
    case 431:
      return "Request Header Fields Too Large";
    case 501:
      return "Not Implemented";
    default:
      return "Error";
  }
}

// A header's value in a message: escaped and at most 200 bytes.
std::string Quoted(std::string_view v) { return ValidUtf8(EscapeControl(v.substr(0, 200)), false); }

}  // namespace

std::string HttpRequest::Header(const std::string& name) const {
  auto it = headers.find(name);
  return it == headers.end() ? "" : it->second;
}

std::optional<HttpRefusal> CrossSiteXmlRpc(const HttpRequest& r) {
  std::string type = Lower(r.Header("content-type"));
  type = type.substr(0, type.find(';'));
  while (!type.empty() && type.back() == ' ') type.pop_back();
  if (type != "text/xml") return HttpRefusal{415, "an XML-RPC call is sent as Content-Type: text/xml\n"};
  std::string site = Lower(r.Header("sec-fetch-site"));
  if (!site.empty() && site != "same-origin" && site != "none")
    return HttpRefusal{403, "forbidden: a cross-site request (Sec-Fetch-Site: " + Quoted(site) + ")\n"};
  std::string origin = Lower(r.Header("origin"));
  if (!origin.empty()) {
    size_t scheme = origin.find("://");
    std::string host = scheme == std::string::npos ? origin : origin.substr(scheme + 3);
    if (host != Lower(r.Header("host")))
      return HttpRefusal{403, "forbidden: a cross-site request (Origin: " + Quoted(origin) + ")\n"};
  }
  return std::nullopt;
}

bool HostAllowed(std::string_view host, const std::vector<std::string>& names) {
  if (host.empty()) return true;
  std::string name;
  if (host.front() == '[') {  // an IPv6 address, [::1]:9750
    size_t close = host.find(']');
    if (close == std::string_view::npos) return false;
    name = std::string(host.substr(1, close - 1));
    in6_addr a6;
    return inet_pton(AF_INET6, name.c_str(), &a6) == 1;
  }
  name = Lower(host.substr(0, host.rfind(':')));
  in_addr a4;
  if (inet_pton(AF_INET, name.c_str(), &a4) == 1 || name == "localhost") return true;
  return std::any_of(names.begin(), names.end(), [&](const std::string& n) { return Lower(n) == name; });
}

bool LooksLikeHttp(std::string_view start) {
  for (std::string_view m : {"POST ", "GET ", "HEAD ", "PUT ", "DELETE ", "OPTIONS "}) {
    size_t n = std::min(start.size(), m.size());
    if (n > 0 && start.substr(0, n) == m.substr(0, n)) return true;
  }
  return false;
}

HttpRequestReader::State HttpRequestReader::Fail(int status, std::string why) {
  error_status_ = status;
  error_ = std::move(why);
  return state_ = State::kBad;
}

HttpRequestReader::State HttpRequestReader::Feed(std::string_view data) {
  if (state_ != State::kReading) return state_;
  if (!in_body_) {
    size_t old = head_.size();
    head_.append(data.substr(0, kMaxHttpHeader + 4 - std::min(old, kMaxHttpHeader + 4)));
    size_t end = head_.find("\r\n\r\n");
    if (end == std::string::npos) {
      if (head_.size() > kMaxHttpHeader) return Fail(431, "request headers longer than 16 KiB");
      return state_;
    }
    if (ParseHead(std::string_view(head_).substr(0, end)) == State::kBad) return state_;
    in_body_ = true;
    data.remove_prefix(end + 4 - old);
  }
  size_t take = std::min(data.size(), body_left_);
  if (!request_.body_too_large) request_.body.append(data.substr(0, take));
  body_left_ -= take;
  if (body_left_ == 0) state_ = State::kDone;
  return state_;
}

HttpRequestReader::State HttpRequestReader::ParseHead(std::string_view head) {
  size_t eol = head.find("\r\n");
  std::string_view line = head.substr(0, eol);
  size_t sp1 = line.find(' '), sp2 = line.rfind(' ');
  if (sp1 == std::string_view::npos || sp2 == sp1 || line.substr(sp2 + 1).rfind("HTTP/1.", 0) != 0) {
    return Fail(400, "not an HTTP/1.x request line");
  }
  request_.method = line.substr(0, sp1);
  request_.target = line.substr(sp1 + 1, sp2 - sp1 - 1);
  std::string_view rest = eol == std::string_view::npos ? "" : head.substr(eol + 2);
  while (!rest.empty()) {
    size_t next = rest.find("\r\n");
    std::string_view h = rest.substr(0, next);
    rest = next == std::string_view::npos ? "" : rest.substr(next + 2);
    size_t colon = h.find(':');
    if (colon == std::string_view::npos || colon == 0) return Fail(400, "malformed header line");
    request_.headers[Lower(Trim(h.substr(0, colon)))] = std::string(Trim(h.substr(colon + 1)));
  }
  if (!request_.Header("transfer-encoding").empty()) {
    return Fail(501, "Transfer-Encoding is not supported; send Content-Length");
  }
  std::string length = request_.Header("content-length");
  if (length.empty()) {
    if (request_.method == "POST") return Fail(411, "a POST needs Content-Length");
    return state_;
  }
  if (length.size() > 18 || !std::all_of(length.begin(), length.end(), ::isdigit)) {
    return Fail(400, "bad Content-Length");
  }
  body_left_ = std::stoull(length);
  request_.body_too_large = body_left_ > kMaxHttpBody;
  if (!request_.body_too_large) request_.body.reserve(body_left_);
  return state_;
}

std::string HttpResponse(int status, std::string_view content_type, std::string_view body,
                         std::string_view extra_headers) {
  std::string out = "HTTP/1.1 " + std::to_string(status) + " " + Reason(status) + "\r\n";
  out += "Server: droverd\r\nContent-Type: ";
  out += content_type;
  out += "\r\nContent-Length: " + std::to_string(body.size()) + "\r\nConnection: close\r\n";
  out += extra_headers;
  out += "\r\n";
  out += body;
  return out;
}

std::string HttpChunk(std::string_view data) {
  char size[32];
  snprintf(size, sizeof size, "%zx\r\n", data.size());
  return size + std::string(data) + "\r\n";
}

}  // namespace drover
