// Escaping of control characters in untrusted text (job types, errors, results, payloads) that
// reaches a log file or a terminal, so that it can neither forge log lines nor send escape
// sequences to an operator's terminal. Pure; thread-safe.
#ifndef DROVER_COMMON_ESCAPE_H_
#define DROVER_COMMON_ESCAPE_H_

#include <streambuf>
#include <string>
#include <string_view>

namespace drover {

// True for the bytes EscapeControl rewrites: C0 controls and DEL; tab always passes, and a
// newline passes when `keep_newlines`.
bool IsEscaped(unsigned char c, bool keep_newlines);

// `s` with each such byte written as \n, \r or \xNN, each C1 control (U+0080 to U+009F, which
// terminals may take as ESC-sequences: U+009B is CSI) as \uNNNN, and each byte that is not part
// of valid UTF-8 as \xNN. Other UTF-8 text passes unchanged.
std::string EscapeControl(std::string_view s, bool keep_newlines = false);

// `s` as strictly valid UTF-8 (no overlong forms, surrogates or code points above U+10FFFF)
// without NUL: each byte that breaks that becomes U+FFFD, and so does every C0 control but tab,
// newline and carriage return unless `keep_controls`. For stores and formats that refuse what a
// job's output may hold (PostgreSQL text, XML).
std::string ValidUtf8(std::string_view s, bool keep_controls);

// The first bytes of `s`, at most `max`, cut before a character rather than inside one (a
// continuation byte at the cut moves it back), so that cutting leaves valid UTF-8 valid.
std::string_view Utf8Prefix(std::string_view s, size_t max);

// A stream buffer that escapes what it passes on to `target` (keeping newlines): put it under
// std::cout for text meant for a terminal. A UTF-8 character written in pieces is held until it
// is whole (or sync() gives up on it).
class EscapingStreambuf : public std::streambuf {
 public:
  explicit EscapingStreambuf(std::streambuf* target) : target_(target) {}
  ~EscapingStreambuf() override { sync(); }

 protected:
  int_type overflow(int_type c) override;
  std::streamsize xsputn(const char* s, std::streamsize n) override;
  int sync() override;

 private:
  std::streambuf* target_;
  std::string pending_;  // the start of a character cut at the end of the last write
};

}  // namespace drover

#endif  // DROVER_COMMON_ESCAPE_H_
