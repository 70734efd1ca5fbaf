#include "supervisor/droverctl.h"

#include <gtest/gtest.h>

namespace drover {
namespace {

using Words = std::vector<std::string>;

TEST(SplitPromptWordsTest, ShellStyleQuotesGroupWords) {
  EXPECT_EQ(SplitPromptWords("  jobs   --state failed "), (Words{"jobs", "--state", "failed"}));
  EXPECT_EQ(SplitPromptWords("enqueue echo '{\"a\": 1}'"), (Words{"enqueue", "echo", "{\"a\": 1}"}));
  EXPECT_EQ(SplitPromptWords("trigger \"nightly report\""), (Words{"trigger", "nightly report"}));
  EXPECT_EQ(SplitPromptWords(""), Words{});
}

// At the prompt a payload is typed as it is: quotes inside it stay.
TEST(SplitPromptWordsTest, ABareJsonPayloadIsOneWordAsWritten) {
  EXPECT_EQ(SplitPromptWords("enqueue echo {\"a\": 1, \"b\": [1, {\"c\": \"} ]\"}]} --priority 5"),
            (Words{"enqueue", "echo", "{\"a\": 1, \"b\": [1, {\"c\": \"} ]\"}]}", "--priority", "5"}));
  EXPECT_EQ(SplitPromptWords("enqueue echo [1,2] x"), (Words{"enqueue", "echo", "[1,2]", "x"}));
  EXPECT_EQ(SplitPromptWords("enqueue echo {\"esc\": \"a\\\"}\"}"),
            (Words{"enqueue", "echo", "{\"esc\": \"a\\\"}\"}"}));
  // Unclosed: the rest of the line, for the JSON check to report.
  EXPECT_EQ(SplitPromptWords("enqueue echo {\"a\": 1"), (Words{"enqueue", "echo", "{\"a\": 1"}));
}

}  // namespace
}  // namespace drover
