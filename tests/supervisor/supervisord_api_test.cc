#include "supervisor/supervisord_api.h"

#include <gtest/gtest.h>

namespace drover {
namespace {

using json = nlohmann::json;

TEST(SupervisordApiTest, StateCodesAreSupervisords) {
  EXPECT_EQ(SupervisordStateCode(ProcState::kStopped), 0);
  EXPECT_EQ(SupervisordStateCode(ProcState::kStarting), 10);
  EXPECT_EQ(SupervisordStateCode(ProcState::kRunning), 20);
  EXPECT_EQ(SupervisordStateCode(ProcState::kBackoff), 30);
  EXPECT_EQ(SupervisordStateCode(ProcState::kStopping), 40);
  EXPECT_EQ(SupervisordStateCode(ProcState::kExited), 100);
  EXPECT_EQ(SupervisordStateCode(ProcState::kFatal), 200);
  EXPECT_TRUE(InRunningStates(ProcState::kBackoff));
  EXPECT_FALSE(InRunningStates(ProcState::kStopping));
  EXPECT_TRUE(InStoppedStates(ProcState::kExited));
  EXPECT_FALSE(InStoppedStates(ProcState::kStopping));
}

TEST(SupervisordApiTest, FaultsReadAsSupervisordsDo) {
  RpcOutcome f = RpcOutcome::Fault(kBadName, "nosuch");
  EXPECT_TRUE(f.fault);
  EXPECT_EQ(f.code, 10);
  EXPECT_EQ(f.message, "BAD_NAME: nosuch");
  EXPECT_EQ(RpcOutcome::Fault(kShutdownState, "").message, "SHUTDOWN_STATE");
  json r = RpcProcessResult("default", "worker:default:0", RpcOutcome::Value(true));
  EXPECT_EQ(r["status"], 80);
  EXPECT_EQ(r["description"], "OK");
}

TEST(SupervisordApiTest, DescriptionsMatchSupervisorctlsColumn) {
  ProcessFacts p{
      .name = "scheduler", .state = ProcState::kRunning, .pid = 12, .start_s = 1000, .now_s = 1062};
  EXPECT_EQ(ProcessDescription(p), "pid 12, uptime 0:01:02");
  p.now_s = 1000 + 86400 + 3 * 3600 + 5;
  EXPECT_EQ(ProcessDescription(p), "pid 12, uptime 1 day, 3:00:05");
  p.now_s = 1000 + 2 * 86400;
  EXPECT_EQ(ProcessDescription(p), "pid 12, uptime 2 days, 0:00:00");
  p.now_s = 10;  // the clock went back
  EXPECT_EQ(ProcessDescription(p), "pid 12, uptime 0:00:00");
  p.state = ProcState::kBackoff;
  p.spawnerr = "exited with status 1";
  EXPECT_EQ(ProcessDescription(p), "exited with status 1");
  p.spawnerr = "";
  EXPECT_EQ(ProcessDescription(p), "unknown error (try \"tail scheduler\")");
  p.state = ProcState::kStopped;
  p.start_s = 0;
  EXPECT_EQ(ProcessDescription(p), "Not started");
  p.start_s = 1000;
  p.stop_s = 1'800'000'000;
  EXPECT_EQ(ProcessDescription(p).size(), std::string("Jan 15 08:00 AM").size()) << ProcessDescription(p);
  p.state = ProcState::kStopping;
  EXPECT_EQ(ProcessDescription(p), "");
}

TEST(SupervisordApiTest, ReadLogSliceFollowsSupervisordsArguments) {
  const std::string log = "0123456789";
  EXPECT_EQ(ReadLogSlice(log, -4, 0), "6789");
  EXPECT_EQ(ReadLogSlice(log, -100, 0), log);
  EXPECT_EQ(ReadLogSlice(log, 2, 3), "234");
  EXPECT_EQ(ReadLogSlice(log, 2, 0), "23456789");
  EXPECT_EQ(ReadLogSlice(log, 20, 5), "");
  EXPECT_EQ(ReadLogSlice(log, -4, 2), std::nullopt);  // BAD_ARGUMENTS
  EXPECT_EQ(ReadLogSlice(log, 0, -1), std::nullopt);
}

TEST(SupervisordApiTest, TailLogSliceFollowsSupervisordsArithmetic) {
  const std::string log = "0123456789";
  // From the start with room for all of it: everything, no overflow.
  EXPECT_EQ(TailLogSlice(log, 0, 100), json::array({log, 10, false}));
  // More came than the length: the last bytes, and overflow.
  EXPECT_EQ(TailLogSlice(log, 0, 4), json::array({"6789", 10, true}));
  // Nothing new since the offset.
  EXPECT_EQ(TailLogSlice(log, 10, 4), json::array({"", 10, false}));
  // Something new: up to `length` bytes that end the log.
  EXPECT_EQ(TailLogSlice(log, 8, 4), json::array({"6789", 10, false}));
  EXPECT_EQ(TailLogSlice("", 0, 4), json::array({"", 0, false}));
}

TEST(SupervisordApiTest, ParamsFitTheirSignature) {
  EXPECT_TRUE(ParamsFit(json::array(), ""));
  EXPECT_FALSE(ParamsFit(json::array({1}), ""));
  EXPECT_TRUE(ParamsFit(json::array({"x"}), "s|b"));
  EXPECT_TRUE(ParamsFit(json::array({"x", false}), "s|b"));
  EXPECT_FALSE(ParamsFit(json::array({"x", 1}), "s|b"));
  EXPECT_FALSE(ParamsFit(json::array({"x", true, true}), "s|b"));
  EXPECT_FALSE(ParamsFit(json::array(), "s|b"));
  EXPECT_TRUE(ParamsFit(json::array({"x", 15}), "sx"));
  EXPECT_TRUE(ParamsFit(json::array({"x", "HUP"}), "sx"));
  EXPECT_FALSE(ParamsFit(json::array({"x", 1.5}), "sx"));
  EXPECT_TRUE(ParamsFit(json::array({"x", -1600, 0}), "sii"));
  EXPECT_FALSE(ParamsFit(json::array({"x", "-1600", 0}), "sii"));
  EXPECT_TRUE(ParamsFit(json::array({json::array()}), "a"));
  EXPECT_FALSE(ParamsFit(json::object(), ""));
}

}  // namespace
}  // namespace drover
