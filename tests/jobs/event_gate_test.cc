#include "jobs/event_gate.h"

#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

namespace drover {
namespace {

TEST(EventGateTest, AChildSeesTheGateItsParentOpens) {
  Result<EventGate> gate = EventGate::Create();
  ASSERT_TRUE(gate.ok()) << gate.status().ToString();
  EXPECT_FALSE(gate->open());
  int go[2];
  ASSERT_EQ(pipe(go), 0);
  pid_t child = fork();
  if (child == 0) {
    char c;
    if (read(go[0], &c, 1) != 1) _exit(2);
    _exit(gate->open() ? 0 : 1);
  }
  gate->Set(true);
  ASSERT_EQ(write(go[1], "x", 1), 1);
  int st = 0;
  ASSERT_EQ(waitpid(child, &st, 0), child);
  EXPECT_TRUE(WIFEXITED(st) && WEXITSTATUS(st) == 0);
  gate->Set(false);
  EXPECT_FALSE(gate->open());
  close(go[0]);
  close(go[1]);

  EventGate moved = std::move(gate).value();
  moved.Set(true);
  EXPECT_TRUE(moved.open());
  EXPECT_FALSE(EventGate().open()) << "no gate: never open";
}

TEST(EventGateTest, EventsAreOneJsonLineWithTimeKindAndEvent) {
  std::string e = EventJson("job", "failed", {{"id", 7}, {"queue", "a\nb"}, {"type", "x\xff"}});
  EXPECT_EQ(e.find('\n'), std::string::npos);
  nlohmann::json j = nlohmann::json::parse(e);
  EXPECT_EQ(j["kind"], "job");
  EXPECT_EQ(j["event"], "failed");
  EXPECT_EQ(j["id"], 7);
  EXPECT_EQ(j["queue"], "a\nb");
  EXPECT_GT(j["at"].get<std::int64_t>(), 1'700'000'000'000);
}

}  // namespace
}  // namespace drover
