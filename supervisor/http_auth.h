// HttpAuth: the credentials of droverd's TCP listener ([http] auth): a token file (the token is
// the password of HTTP Basic auth, with any user name, or a Bearer token) or an htpasswd file
// (bcrypt "$2y$"/"$2b$" as `htpasswd -B` writes them, or SHA-crypt "$5$"/"$6$"). Read once, at
// start and reload. Thread-compatible.
#ifndef DROVER_SUPERVISOR_HTTP_AUTH_H_
#define DROVER_SUPERVISOR_HTTP_AUTH_H_

#include <map>
#include <string>
#include <string_view>

#include "common/status.h"

namespace drover {

class HttpAuth {
 public:
  HttpAuth() = default;  // no credentials: Check() is always false

  // Reads the file `spec` names ("token-file:PATH" or "htpasswd:PATH"; "" for none). Fails naming
  // the file (and line) when it cannot be read, is empty, or holds a hash it cannot check.
  static Result<HttpAuth> Load(const std::string& spec);

  bool configured() const { return !token_.empty() || !users_.empty(); }
  // True for an htpasswd file: checks compute a hash (a tenth of a second or more for bcrypt).
  bool hashed() const { return !users_.empty(); }
  // True when `authorization` (an Authorization header's value) carries valid credentials. A user
  // name not in the file costs a hash all the same, so that the time taken does not tell which
  // names are.
  bool Check(std::string_view authorization) const;

 private:
  std::string token_;
  std::map<std::string, std::string, std::less<>> users_;  // user -> crypt(3) hash
};

// True when `a` equals the secret `b` (never when `b` is empty). Compares without stopping at
// the first difference, so that the time taken tells nothing of where they differ.
bool SameSecret(std::string_view a, std::string_view b);

// Decodes standard base64 (RFC 4648, padding optional) into *out; false on bad input.
bool DecodeBase64(std::string_view in, std::string* out);

}  // namespace drover

#endif  // DROVER_SUPERVISOR_HTTP_AUTH_H_
