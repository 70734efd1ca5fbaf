#include "common/logging.h"

#include <gtest/gtest.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <fstream>
#include <iterator>

#include "tests/temp_dir.h"

namespace drover {
namespace {

// What a job or a runner sends into a message reaches the log file unable to forge a line or drive
// a terminal: C0 and C1 controls and bytes that are not UTF-8 are escaped, other text kept.
TEST(LoggingTest, ControlsAndBytesThatAreNotUtf8AreEscaped) {
  TempDir dir;
  const std::string path = dir.path() + "/drover.log";
  ASSERT_TRUE(SetupLogging("test", {"info", path}).ok());
  spdlog::info("runner: {}",
               "a\nforged \x1b[2J \xC2\x9B"
               "31m \x9B \xFF caf\xC3\xA9");
  std::ifstream in(path);
  std::string text(std::istreambuf_iterator<char>(in), {});
  EXPECT_NE(text.find("runner: a\\nforged \\x1b[2J \\u009b31m \\x9b \\xff caf\xC3\xA9\n"), std::string::npos)
      << text;
  EXPECT_EQ(std::count(text.begin(), text.end(), '\n'), 1) << text;
  ASSERT_TRUE(SetupLogging("test", {"info", ""}).ok());
}

}  // namespace
}  // namespace drover
