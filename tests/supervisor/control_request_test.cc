#include "supervisor/control_request.h"

#include <gtest/gtest.h>

namespace drover {
namespace {

TEST(ControlRequestTest, DecodesCommandAndArguments) {
  Result<ControlCommand> c = ParseControlRequest(R"({"cmd":"status","args":["scheduler","worker:default:0"]})");
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  EXPECT_EQ(c->cmd, "status");
  EXPECT_EQ(c->args, (std::vector<std::string>{"scheduler", "worker:default:0"}));
  EXPECT_TRUE(ParseControlRequest(R"({"cmd":"version"})")->args.empty());
}

TEST(ControlRequestTest, RejectsOtherShapesAsMalformed) {
  for (const char* bad : {"", "status", "[]", "{}", R"({"cmd":1})", R"({"cmd":"x","args":"a"})",
                          R"({"cmd":"x","args":[1]})", R"({"cmd":"x")", "\xff\xfe"}) {
    Result<ControlCommand> c = ParseControlRequest(bad);
    ASSERT_FALSE(c.ok()) << bad;
    EXPECT_EQ(c.status().message().rfind("malformed request: ", 0), 0u) << bad;
  }
}

}  // namespace
}  // namespace drover
