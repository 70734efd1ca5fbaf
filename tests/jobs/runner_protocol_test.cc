#include "jobs/runner_protocol.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

namespace drover {
namespace {

using json = nlohmann::json;

TEST(RunnerProtocolTest, RunCarriesTheEnvelopeAndTheTimeout) {
  ClaimedJob j;
  j.id = 42;
  j.type = "send_email";
  j.queue = "mail";
  j.payload = R"({"to":"a@example.com"})";
  j.attempt = 2;
  j.max_attempts = 5;
  j.checkpoint = R"({"step":2})";
  std::string line = RunMessage(j, Duration(30'000));
  ASSERT_EQ(line.back(), '\n');
  EXPECT_EQ(line.find('\n'), line.size() - 1);
  EXPECT_EQ(line.rfind("{\"op\":\"run\",\"id\":42,", 0), 0u)
      << line;  // what a runner reads when the rest fails
  EXPECT_EQ(json::parse(line), json::parse(R"({"op":"run","id":42,"type":"send_email","queue":"mail",
    "attempt":2,"max_attempts":5,"payload":{"to":"a@example.com"},"checkpoint":{"step":2},"timeout_ms":30000})"));
  j.payload = "not json";  // a plain SQL insert
  j.checkpoint.reset();
  json m = json::parse(RunMessage(j, Duration(0)));
  EXPECT_EQ(m["payload"], "not json");
  EXPECT_TRUE(m["checkpoint"].is_null());
  EXPECT_EQ(m["timeout_ms"], 0);
}

TEST(RunnerProtocolTest, Cancel) {
  EXPECT_EQ(json::parse(CancelMessage(7, "timeout")),
            json::parse(R"({"op":"cancel","id":7,"reason":"timeout"})"));
}

TEST(RunnerProtocolTest, ParsesEveryRunnerMessage) {
  Result<RunnerMessage> h =
      ParseRunnerMessage(R"({"op":"hello","protocol":1,"types":["a","b"],"isolation":"fork"})");
  ASSERT_TRUE(h.ok()) << h.status().ToString();
  EXPECT_EQ(h->op, RunnerMessage::Op::kHello);
  EXPECT_EQ(h->protocol, 1);
  EXPECT_EQ(h->types, (std::vector<std::string>{"a", "b"}));
  EXPECT_EQ(h->isolation, "fork");

  Result<RunnerMessage> p =
      ParseRunnerMessage(R"({"op":"progress","id":3,"progress":1.5,"message":"m","checkpoint":[1]})");
  ASSERT_TRUE(p.ok()) << p.status().ToString();
  EXPECT_EQ(p->op, RunnerMessage::Op::kProgress);
  EXPECT_EQ(p->id, 3);
  EXPECT_EQ(p->progress.progress, 1.0);  // clamped
  EXPECT_EQ(p->progress.message, "m");
  EXPECT_EQ(p->progress.checkpoint, "[1]");

  Result<RunnerMessage> c = ParseRunnerMessage(R"({"op":"checkpoint","id":3,"checkpoint":{"k":1}})");
  ASSERT_TRUE(c.ok());
  EXPECT_EQ(c->op, RunnerMessage::Op::kProgress);
  EXPECT_EQ(c->progress.checkpoint, R"({"k":1})");
  EXPECT_FALSE(c->progress.progress);

  Result<RunnerMessage> d = ParseRunnerMessage(R"({"op":"done","id":4,"result":{"sent":true}})");
  ASSERT_TRUE(d.ok());
  EXPECT_EQ(d->op, RunnerMessage::Op::kDone);
  EXPECT_EQ(d->result, R"({"sent":true})");
  EXPECT_EQ(ParseRunnerMessage(R"({"op":"done","id":4})")->result, "null");

  Result<RunnerMessage> f = ParseRunnerMessage(R"({"op":"fail","id":5,"error":"boom","retry":false})");
  ASSERT_TRUE(f.ok());
  EXPECT_EQ(f->op, RunnerMessage::Op::kFail);
  EXPECT_EQ(f->error, "boom");
  EXPECT_FALSE(f->retry);
  EXPECT_TRUE(ParseRunnerMessage(R"({"op":"fail","id":5,"error":"x"})")->retry);  // the default
}

TEST(RunnerProtocolTest, BadLinesSayWhatIsWrong) {
  struct Case {
    const char* line;
    const char* error;
  } cases[] = {
      {"garbage", "not JSON"},
      {"[1]", "not a JSON object"},
      {R"({"id":1})", "no \"op\" string"},
      {R"({"op":"dance","id":1})", "unknown op \"dance\""},
      {R"({"op":"done"})", "done: \"id\" must be the job's id"},
      {R"({"op":"done","id":"7"})", "done: \"id\" must be the job's id"},
      {R"({"op":"fail","id":1})", "fail: \"error\" must be a string"},
      {R"({"op":"fail","id":1,"error":"e","retry":"no"})", "\"retry\" must be true or false"},
      {R"({"op":"hello","types":[]})", "hello: \"protocol\" must be an integer"},
      {R"({"op":"hello","protocol":1,"types":[1]})", "hello: \"types\" must be an array"},
      {R"({"op":"progress","id":1,"progress":"half"})", "progress: \"progress\" must be a number"},
      {R"({"op":"checkpoint","id":1})", "checkpoint: no \"checkpoint\""},
  };
  for (const Case& c : cases) {
    Result<RunnerMessage> m = ParseRunnerMessage(c.line);
    ASSERT_FALSE(m.ok()) << c.line;
    EXPECT_NE(m.status().message().find(c.error), std::string::npos)
        << c.line << ": " << m.status().message();
  }
}

}  // namespace
}  // namespace drover
