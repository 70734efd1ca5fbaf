#include "supervisor/control_request.h"

#include <gtest/gtest.h>

namespace drover {
namespace {

TEST(ControlRequestTest, DecodesCommandAndArguments) {
  Result<ControlCommand> c =
      ParseControlRequest(R"({"cmd":"status","args":["scheduler","worker:default:0"]})");
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

// droverctl decides its exit code on the answer's code, never on the wording of its message.
// A log line cut inside a character, or a job's stray bytes, reach an answer as U+FFFD: never an
// exception (which would end droverd).
TEST(ControlRequestTest, AnswersCarryTextThatIsNotUtf8AsReplacements) {
  const std::string cut = "caf\xC3";
  Result<ControlAnswer> ok = ParseControlAnswer(OkAnswer({{"lines", {cut, "\xFF ok"}}}));
  ASSERT_TRUE(ok.ok());
  EXPECT_EQ(ok->result["lines"][0], "caf\xEF\xBF\xBD");
  EXPECT_EQ(ok->result["lines"][1], "\xEF\xBF\xBD ok");
  Result<ControlAnswer> error = ParseControlAnswer(ErrorAnswer(ControlError::kFailed, cut));
  ASSERT_TRUE(error.ok());
  EXPECT_EQ(error->message, "caf\xEF\xBF\xBD");
}

TEST(ControlRequestTest, AnswersCarryACodeThatReadsBack) {
  Result<ControlAnswer> ok = ParseControlAnswer(OkAnswer({1, 2}));
  ASSERT_TRUE(ok.ok());
  EXPECT_TRUE(ok->ok);
  EXPECT_EQ(ok->result, nlohmann::json({1, 2}));
  for (ControlError e :
       {ControlError::kBadRequest, ControlError::kUnknownCommand, ControlError::kNotFound,
        ControlError::kPermissionDenied, ControlError::kShuttingDown, ControlError::kFailed}) {
    Result<ControlAnswer> a = ParseControlAnswer(ErrorAnswer(e, "why"));
    ASSERT_TRUE(a.ok());
    EXPECT_FALSE(a->ok);
    EXPECT_EQ(a->error, e) << ControlErrorCode(e);
    EXPECT_EQ(a->message, "why");
  }
  EXPECT_EQ(ParseControlAnswer(ErrorAnswer(Status::NotFound("no such process: x")))->error,
            ControlError::kNotFound);
  EXPECT_EQ(ParseControlAnswer(ErrorAnswer(Status::InvalidArgument("bad")))->error,
            ControlError::kBadRequest);
  EXPECT_EQ(ParseControlAnswer(ErrorAnswer(Status::IoError("disk")))->error, ControlError::kFailed);
  // An older or newer daemon's unknown code is a plain failure.
  EXPECT_EQ(ParseControlAnswer(R"({"ok":false,"code":"new_thing","error":"x"})")->error,
            ControlError::kFailed);
  EXPECT_EQ(ParseControlAnswer(R"({"ok":false,"error":"no such process: x"})")->error, ControlError::kFailed);
  for (const char* bad : {"", "[]", "{}", R"({"ok":"yes"})", "not json"})
    EXPECT_FALSE(ParseControlAnswer(bad).ok()) << bad;
}

}  // namespace
}  // namespace drover
