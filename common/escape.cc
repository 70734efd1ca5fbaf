#include "common/escape.h"

#include <cstdio>
#include <utility>

namespace drover {
namespace {

// The length of the strict UTF-8 sequence (no overlong forms, surrogates or code points above
// U+10FFFF) at s[i], 1 for ASCII; 0 when the bytes there are not one.
size_t Utf8SequenceLength(std::string_view s, size_t i) {
  auto byte = [&](size_t k) { return static_cast<unsigned char>(s[i + k]); };
  const unsigned char c = byte(0);
  const size_t len = c < 0x80                 ? 1
                     : c >= 0xC2 && c <= 0xDF ? 2
                     : c >= 0xE0 && c <= 0xEF ? 3
                     : c >= 0xF0 && c <= 0xF4 ? 4
                                              : 0;
  if (len == 0 || i + len > s.size()) return 0;
  for (size_t k = 1; k < len; ++k)
    if ((byte(k) >> 6) != 0x2) return 0;
  if (len == 3 && ((c == 0xE0 && byte(1) < 0xA0) || (c == 0xED && byte(1) >= 0xA0))) return 0;
  if (len == 4 && ((c == 0xF0 && byte(1) < 0x90) || (c == 0xF4 && byte(1) >= 0x90))) return 0;
  return len;
}

}  // namespace

bool IsEscaped(unsigned char c, bool keep_newlines) {
  if (c == '\t' || (c == '\n' && keep_newlines)) return false;
  return c < 0x20 || c == 0x7f;
}

std::string EscapeControl(std::string_view s, bool keep_newlines) {
  std::string out;
  out.reserve(s.size());
  char buf[8];
  for (size_t i = 0; i < s.size();) {
    const unsigned char c = static_cast<unsigned char>(s[i]);
    const size_t len = c < 0x80 ? 1 : Utf8SequenceLength(s, i);
    if (len > 1 && !(c == 0xC2 && static_cast<unsigned char>(s[i + 1]) < 0xA0)) {
      out.append(s, i, len);
    } else if (len == 2) {  // U+0080-U+009F: C1 controls (U+009B is a terminal's CSI)
      snprintf(buf, sizeof buf, "\\u%04x", static_cast<unsigned char>(s[i + 1]));
      out += buf;
    } else if (len == 1 && !IsEscaped(c, keep_newlines)) {
      out += static_cast<char>(c);
    } else if (c == '\n') {
      out += "\\n";
    } else if (c == '\r') {
      out += "\\r";
    } else {  // a C0 control, DEL, or a byte that is not UTF-8
      snprintf(buf, sizeof buf, "\\x%02x", c);
      out += buf;
    }
    i += len == 0 ? 1 : len;
  }
  return out;
}

EscapingStreambuf::int_type EscapingStreambuf::overflow(int_type c) {
  if (traits_type::eq_int_type(c, traits_type::eof())) return traits_type::not_eof(c);
  char ch = traits_type::to_char_type(c);
  return xsputn(&ch, 1) == 1 ? c : traits_type::eof();
}

std::streamsize EscapingStreambuf::xsputn(const char* s, std::streamsize n) {
  std::string text = std::exchange(pending_, "");
  text.append(s, static_cast<size_t>(n));
  // A lead byte among the last three whose sequence runs past the end waits for the rest.
  for (size_t back = 1; back <= 3 && back <= text.size(); ++back) {
    const unsigned char c = static_cast<unsigned char>(text[text.size() - back]);
    if ((c & 0xC0) == 0x80) continue;
    const size_t need = c >= 0xF5 || c < 0xC2 ? 1 : c >= 0xF0 ? 4 : c >= 0xE0 ? 3 : 2;
    if (need > back) {
      pending_ = text.substr(text.size() - back);
      text.resize(text.size() - back);
    }
    break;
  }
  std::string out = EscapeControl(text, true);
  std::streamsize want = static_cast<std::streamsize>(out.size());
  return target_->sputn(out.data(), want) == want ? n : 0;
}

int EscapingStreambuf::sync() {
  if (!pending_.empty()) {
    std::string out = EscapeControl(std::exchange(pending_, ""), true);
    target_->sputn(out.data(), static_cast<std::streamsize>(out.size()));
  }
  return target_->pubsync();
}

std::string_view Utf8Prefix(std::string_view s, size_t max) {
  if (s.size() <= max) return s;
  size_t n = max;
  while (n > 0 && (static_cast<unsigned char>(s[n]) & 0xC0) == 0x80) --n;
  return s.substr(0, n);
}

std::string ValidUtf8(std::string_view s, bool keep_controls) {
  std::string out;
  out.reserve(s.size());
  for (size_t i = 0; i < s.size();) {
    const unsigned char c = static_cast<unsigned char>(s[i]);
    const size_t len = Utf8SequenceLength(s, i);
    bool ok = len > 0;
    if (ok && len == 1) ok = c != 0 && (keep_controls || c >= 0x20 || c == '\t' || c == '\n' || c == '\r');
    if (!ok) {
      out += "\xEF\xBF\xBD";
      ++i;
      continue;
    }
    out.append(s, i, len);
    i += len;
  }
  return out;
}

}  // namespace drover
