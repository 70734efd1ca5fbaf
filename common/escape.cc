#include "common/escape.h"

#include <cstdio>

namespace drover {

bool IsEscaped(unsigned char c, bool keep_newlines) {
  if (c == '\t' || (c == '\n' && keep_newlines)) return false;
  return c < 0x20 || c == 0x7f;
}

std::string EscapeControl(std::string_view s, bool keep_newlines) {
  std::string out;
  out.reserve(s.size());
  for (char ch : s) {
    unsigned char c = static_cast<unsigned char>(ch);
    if (!IsEscaped(c, keep_newlines)) {
      out += ch;
    } else if (c == '\n') {
      out += "\\n";
    } else if (c == '\r') {
      out += "\\r";
    } else {
      char buf[5];
      snprintf(buf, sizeof buf, "\\x%02x", c);
      out += buf;
    }
  }
  return out;
}

EscapingStreambuf::int_type EscapingStreambuf::overflow(int_type c) {
  if (traits_type::eq_int_type(c, traits_type::eof())) return traits_type::not_eof(c);
  char ch = traits_type::to_char_type(c);
  return xsputn(&ch, 1) == 1 ? c : traits_type::eof();
}

std::streamsize EscapingStreambuf::xsputn(const char* s, std::streamsize n) {
  std::string out = EscapeControl(std::string_view(s, static_cast<size_t>(n)), true);
  std::streamsize want = static_cast<std::streamsize>(out.size());
  return target_->sputn(out.data(), want) == want ? n : 0;
}

}  // namespace drover
