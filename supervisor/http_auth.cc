#include "supervisor/http_auth.h"

#include <crypt.h>

#include <fstream>
#include <memory>
#include <sstream>

namespace drover {
namespace {

std::string_view TrimSpace(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r' || s.back() == '\n')) {
    s.remove_suffix(1);
  }
  return s;
}

bool SupportedHash(std::string_view h) {
  for (std::string_view p : {"$2y$", "$2b$", "$2a$", "$5$", "$6$"}) {
    if (h.substr(0, p.size()) == p) return true;
  }
  return false;
}

}  // namespace

bool SameSecret(std::string_view a, std::string_view b) {
  unsigned char diff = a.size() == b.size() ? 0 : 1;
  for (size_t i = 0; i < a.size(); ++i)
    diff |= static_cast<unsigned char>(a[i] ^ b[i % (b.empty() ? 1 : b.size())]);
  return diff == 0 && !b.empty();
}

bool DecodeBase64(std::string_view in, std::string* out) {
  static constexpr std::string_view kAlphabet =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  while (!in.empty() && in.back() == '=') in.remove_suffix(1);
  out->clear();
  std::uint32_t acc = 0;
  int bits = 0;
  for (char c : in) {
    size_t v = kAlphabet.find(c);
    if (v == std::string_view::npos) return false;
    acc = (acc << 6) | static_cast<std::uint32_t>(v);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out->push_back(static_cast<char>((acc >> bits) & 0xFF));
    }
  }
  return bits < 6;  // a lone 6-bit group is not valid base64
}

Result<HttpAuth> HttpAuth::Load(const std::string& spec) {
  HttpAuth auth;
  if (spec.empty()) return auth;
  size_t colon = spec.find(':');
  std::string kind = spec.substr(0, colon), path = spec.substr(colon + 1);
  std::ifstream in(path);
  if (!in) return Status::FromErrno("[http] auth: read " + path);
  if (kind == "token-file") {
    std::stringstream ss;
    ss << in.rdbuf();
    auth.token_ = std::string(TrimSpace(ss.str()));
    if (auth.token_.size() < 16) {
      return Status::InvalidArgument(
          "[http] auth: " + path +
          " must hold a token of at least 16 characters (e.g. `openssl rand -hex 32`)");
    }
    return auth;
  }
  std::string line;
  for (int n = 1; std::getline(in, line); ++n) {
    std::string_view l = TrimSpace(line);
    if (l.empty() || l.front() == '#') continue;
    size_t sep = l.find(':');
    std::string where = path + ":" + std::to_string(n);
    if (sep == std::string_view::npos || sep == 0)
      return Status::InvalidArgument(where + ": expected USER:HASH");
    std::string_view hash = l.substr(sep + 1);
    if (!SupportedHash(hash)) {
      return Status::InvalidArgument(where + ": the hash of \"" + std::string(l.substr(0, sep)) +
                                     "\" is not bcrypt or SHA-crypt; write it with `htpasswd -B`");
    }
    auth.users_.emplace(std::string(l.substr(0, sep)), std::string(hash));
  }
  if (auth.users_.empty()) return Status::InvalidArgument("[http] auth: " + path + " holds no user");
  return auth;
}

bool HttpAuth::Check(std::string_view authorization) const {
  authorization = TrimSpace(authorization);
  if (!token_.empty() && authorization.substr(0, 7) == "Bearer ") {
    return SameSecret(TrimSpace(authorization.substr(7)), token_);
  }
  if (authorization.substr(0, 6) != "Basic ") return false;
  std::string decoded;
  if (!DecodeBase64(TrimSpace(authorization.substr(6)), &decoded)) return false;
  size_t colon = decoded.find(':');
  if (colon == std::string::npos) return false;
  std::string_view user = std::string_view(decoded).substr(0, colon),
                   password = std::string_view(decoded).substr(colon + 1);
  if (!token_.empty()) return SameSecret(password, token_);
  if (users_.empty()) return false;
  auto it = users_.find(user);
  const bool known = it != users_.end();
  if (!known) it = users_.begin();  // a hash of the same kind and cost, compared with nothing
  auto data = std::make_unique<crypt_data>();
  const char* hashed = crypt_r(std::string(password).c_str(), it->second.c_str(), data.get());
  return known && hashed != nullptr && hashed[0] != '*' && SameSecret(hashed, it->second);
}

}  // namespace drover
