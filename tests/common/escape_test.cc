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
  };
  for (const Case& c : cases) EXPECT_EQ(EscapeControl(c.in, c.keep_newlines), c.out) << c.out;
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

}  // namespace
}  // namespace drover
