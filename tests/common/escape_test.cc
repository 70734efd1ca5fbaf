#include "common/escape.h"

#include <gtest/gtest.h>

#include <sstream>

namespace drover {
namespace {

TEST(EscapeControlTest, Table) {
  struct Case {
    std::string in;
    bool keep_newlines;
    std::string out;
  } cases[] = {
      {"plain text", false, "plain text"},
      {"tab\tstays", false, "tab\tstays"},
      {"x\n2026-11-25 info [supervisor] forged", false, "x\\n2026-11-25 info [supervisor] forged"},
      {"line\nline", true, "line\nline"},
      {"\x1b[31mred\x1b[0m", true, "\\x1b[31mred\\x1b[0m"},
      {"cr\rdel\x7f", false, "cr\\rdel\\x7f"},
      {std::string("nul\0x", 5), false, "nul\\x00x"},
      {"utf-8 é ✓", false, "utf-8 é ✓"},
      {"c1 \xC2\x9B"
       "31m",
       false, "c1 \\u009b31m"},                     // U+009B, a terminal's CSI
      {"nbsp \xC2\xA0.", false, "nbsp \xC2\xA0."},  // U+00A0 is text
      {"raw \x9B"
       "31m",
       false, "raw \\x9b31m"},  // a byte that is not UTF-8
      {"cut \xE2\x82 end \xFF", false, "cut \\xe2\\x82 end \\xff"},
  };
  for (const Case& c : cases) EXPECT_EQ(EscapeControl(c.in, c.keep_newlines), c.out) << c.out;
}

TEST(ValidUtf8Test, ReplacesWhatIsNotStrictUtf8AndNul) {
  const std::string r = "\xEF\xBF\xBD";
  EXPECT_EQ(ValidUtf8("utf-8 é ✓ 𝄞", true), "utf-8 é ✓ 𝄞");
  EXPECT_EQ(ValidUtf8(std::string("a\0b", 3), true), "a" + r + "b");
  EXPECT_EQ(ValidUtf8("\xff\xfe", true), r + r);
  EXPECT_EQ(ValidUtf8("\xc0\xaf", true), r + r);                  // overlong '/'
  EXPECT_EQ(ValidUtf8("\xed\xa0\x80", true), r + r + r);          // a UTF-16 surrogate
  EXPECT_EQ(ValidUtf8("\xf4\x90\x80\x80", true), r + r + r + r);  // above U+10FFFF
  EXPECT_EQ(ValidUtf8("cut \xe2\x9c", true), "cut " + r + r);
  EXPECT_EQ(ValidUtf8("tab\tbell\x07", true), "tab\tbell\x07");
  EXPECT_EQ(ValidUtf8("tab\tbell\x07", false), "tab\tbell" + r);
}

TEST(Utf8PrefixTest, CutsBeforeACharacterNotInsideIt) {
  const std::string euro = "\xE2\x82\xAC";  // 3 bytes
  EXPECT_EQ(Utf8Prefix("abc", 10), "abc");
  EXPECT_EQ(Utf8Prefix("abcdef", 3), "abc");
  for (size_t max = 1; max <= 3; ++max) EXPECT_EQ(Utf8Prefix("a" + euro + "b", max), "a") << max;
  EXPECT_EQ(Utf8Prefix("a" + euro + "b", 4), "a" + euro);
  EXPECT_EQ(Utf8Prefix(euro, 2), "");
  // Bytes that are not UTF-8 are cut where asked: nothing to keep whole.
  EXPECT_EQ(Utf8Prefix("\xFF\xFF\xFF", 2), "\xFF\xFF");
}

TEST(EscapingStreambufTest, EscapesWhatPassesThrough) {
  std::ostringstream target;
  EscapingStreambuf buf(target.rdbuf());
  std::ostream out(&buf);
  out << "type: "
      << "\x1b]0;owned\x07" << '\n'
      << 'x' << '\x1b' << "\n";
  out.flush();
  EXPECT_EQ(target.str(), "type: \\x1b]0;owned\\x07\nx\\x1b\n");
}

TEST(EscapingStreambufTest, ACharacterWrittenInPiecesPassesWhole) {
  std::ostringstream target;
  EscapingStreambuf buf(target.rdbuf());
  std::ostream out(&buf);
  out << "caf\xC3"
      << "\xA9 \xE2" << '\x82' << "\xAC \xC2"
      << "\x9B";
  out << "cut \xE2\x82";
  out.flush();  // nothing follows: what was held is escaped
  EXPECT_EQ(target.str(), "caf\xC3\xA9 \xE2\x82\xAC \\u009bcut \\xe2\\x82");
}

}  // namespace
}  // namespace drover
