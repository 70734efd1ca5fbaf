// Pieces of URLs and forms: a request target's path and query, percent-decoding, and
// application/x-www-form-urlencoded pairs. Pure; thread-safe.
#ifndef DROVER_SUPERVISOR_HTTP_URL_H_
#define DROVER_SUPERVISOR_HTTP_URL_H_

#include <map>
#include <string>
#include <string_view>

namespace drover {

// "/jobs?state=failed" -> {"/jobs", "state=failed"}.
std::pair<std::string, std::string> SplitTarget(std::string_view target);

// Decodes %XX and '+' (a space); a bad escape stays as it is.
std::string UrlDecode(std::string_view s);

// Escapes everything but unreserved characters (RFC 3986).
std::string UrlEncode(std::string_view s);

// "a=1&b=x+y" -> {a: "1", b: "x y"}; a later repeat of a name wins.
std::map<std::string, std::string> ParseForm(std::string_view s);

}  // namespace drover

#endif  // DROVER_SUPERVISOR_HTTP_URL_H_
