#include "supervisor/ctl_event_verbs.h"

#include <poll.h>
#include <unistd.h>

#include <algorithm>
#include <ostream>

#include "common/time_util.h"
#include "supervisor/control_server.h"
#include "supervisor/http/url.h"

namespace drover::ctl {

namespace {

// Reads a chunked HTTP body from `fd`, handing each complete line to `line`; false (and *why)
// when the stream breaks off other than by its last chunk.
bool ReadChunkedLines(int fd, const std::function<void(const std::string&)>& line, std::string* why) {
  std::string buf, body;
  bool in_body = false;
  auto more = [&]() {
    char data[65536];
    while (true) {
      ssize_t n = read(fd, data, sizeof data);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) return false;
      buf.append(data, static_cast<size_t>(n));
      return true;
    }
  };
  while (true) {
    if (!in_body) {
      size_t end = buf.find("\r\n\r\n");
      if (end == std::string::npos) {
        if (!more()) return *why = "droverd closed the connection", false;
        continue;
      }
      std::string status = buf.substr(0, buf.find("\r\n"));
      if (status.find(" 200 ") == std::string::npos) {
        while (more()) {
        }
        std::string text = buf.substr(end + 4);
        *why = status + (text.empty() ? "" : ": " + text.substr(0, text.find('\n')));
        return false;
      }
      buf.erase(0, end + 4);
      in_body = true;
    }
    size_t eol = buf.find("\r\n");
    if (eol == std::string::npos) {
      if (!more()) return *why = "droverd closed the stream", false;
      continue;
    }
    size_t size = std::strtoul(buf.substr(0, eol).c_str(), nullptr, 16);
    if (size == 0) return true;  // the last chunk: droverd stopped
    if (buf.size() < eol + 2 + size + 2) {
      if (!more()) return *why = "droverd closed the stream", false;
      continue;
    }
    body += buf.substr(eol + 2, size);
    buf.erase(0, eol + 2 + size + 2);
    size_t nl;
    while ((nl = body.find('\n')) != std::string::npos) {
      line(body.substr(0, nl));
      body.erase(0, nl + 1);
    }
  }
}

}  // namespace

std::string FormatEvent(const json& e) {
  std::string out =
      e.contains("at") && e["at"].is_number_integer() ? FormatRfc3339(e["at"].get<std::int64_t>()) : "-";
  for (const char* key : {"kind", "event"}) {
    out += " ";
    out += e.contains(key) && e[key].is_string() ? e[key].get<std::string>() : "?";
  }
  for (const auto& [key, value] : e.items()) {
    if (key == "at" || key == "kind" || key == "event") continue;
    out += " " + key + "=" + (value.is_string() ? value.get<std::string>() : value.dump());
  }
  return out;
}

int Events(CtlContext& ctx, const std::string& verb, const Words& in) {
  Words words = in;
  std::replace(words.begin(), words.end(), std::string("-f"), std::string("--follow"));
  std::optional<Args> args = Parse(ctx, verb, words, {"--type", "--queue", "--event"}, {"--follow"});
  if (!args) return kExitUsage;
  if (!args->positional.empty()) return Usage(ctx, verb);
  const bool follow = args->flags.count("--follow");
  std::string query = follow ? "follow=1" : "";
  for (const char* key : {"type", "queue", "event"}) {
    auto it = args->options.find(std::string("--") + key);
    if (it == args->options.end()) continue;
    query += (query.empty() ? "" : "&") + std::string(key) + "=" + UrlEncode(it->second);
  }
  Result<UniqueFd> fd = ControlConnect(ctx.config.supervisor.socket);
  if (!fd.ok()) return Fail(ctx, fd.status());
  std::string request = "GET /events" + (query.empty() ? "" : "?" + query) +
                        " HTTP/1.1\r\nHost: localhost\r\nUser-Agent: droverctl\r\n\r\n";
  for (size_t done = 0; done < request.size();) {
    ssize_t n = write(fd->get(), request.data() + done, request.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return Fail(ctx, Status::FromErrno("write " + ctx.config.supervisor.socket));
    done += static_cast<size_t>(n);
  }
  auto print = [&](const std::string& line) {
    if (line.empty()) return;
    if (ctx.json) {
      *ctx.out << line << "\n";
    } else {
      json e = json::parse(line, nullptr, false);
      *ctx.out << (e.is_object() ? FormatEvent(e) : line) << "\n";
    }
    ctx.out->flush();
  };
  if (!follow) {
    // One whole response (Content-Length): read to the end.
    std::string all;
    char data[65536];
    ssize_t n;
    while ((n = read(fd->get(), data, sizeof data)) > 0 || (n < 0 && errno == EINTR)) {
      if (n > 0) all.append(data, static_cast<size_t>(n));
    }
    size_t end = all.find("\r\n\r\n");
    std::string status = all.substr(0, all.find("\r\n"));
    if (end == std::string::npos || status.find(" 200 ") == std::string::npos) {
      return Error(ctx, kExitError, "error", status.empty() ? "droverd closed the connection" : status);
    }
    std::string body = all.substr(end + 4);
    for (size_t start = 0, nl; (nl = body.find('\n', start)) != std::string::npos; start = nl + 1) {
      print(body.substr(start, nl - start));
    }
    return kExitOk;
  }
  std::string why;
  if (!ReadChunkedLines(fd->get(), print, &why)) return Error(ctx, kExitError, "error", why);
  return kExitOk;
}

}  // namespace drover::ctl
