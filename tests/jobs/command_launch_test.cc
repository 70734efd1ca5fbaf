#include "jobs/command_launch.h"

#include <gtest/gtest.h>

namespace drover {
namespace {

TEST(CommandLaunchTest, TheRequestCarriesTheJobInItsEnvironmentAndStdin) {
  JobTypeConfig t;
  t.name = "report";
  t.command = {"/usr/bin/report", "--fast"};
  t.env = {{"MODE", "x"}, {"PATH", "/opt/bin"}};
  ClaimedJob job;
  job.id = 42;
  job.type = "report";
  job.queue = "q";
  job.attempt = 2;
  job.max_attempts = 5;
  job.payload = R"({"a":1})";
  job.checkpoint = R"({"page":3})";
  SpawnRequest r = CommandRequest(t, job);
  EXPECT_EQ(r.argv, t.command);
  EXPECT_EQ(r.env["PATH"], "/opt/bin");  // the type's env wins over the default
  EXPECT_EQ(r.env["MODE"], "x");
  EXPECT_EQ(r.env["DROVER_JOB_ID"], "42");
  EXPECT_EQ(r.env["DROVER_ATTEMPT"], "2");
  EXPECT_EQ(r.env["DROVER_MAX_ATTEMPTS"], "5");
  EXPECT_EQ(r.env["DROVER_QUEUE"], "q");
  EXPECT_EQ(r.env["DROVER_PAYLOAD"], job.payload);
  EXPECT_EQ(r.env["DROVER_CHECKPOINT"], *job.checkpoint);
  EXPECT_EQ(r.stdin_data, job.payload);
  EXPECT_FALSE(r.no_new_privs);  // default: only with a user switch

  job.payload = "\"" + std::string(70000, 'x') + "\"";
  t.stdin_envelope = true;
  t.user = "nobody";
  r = CommandRequest(t, job);
  EXPECT_EQ(r.env.count("DROVER_PAYLOAD"), 0u);  // too big for the environment: stdin only
  EXPECT_NE(r.stdin_data.find("\"attempt\""), std::string::npos);
  EXPECT_TRUE(r.no_new_privs);
}

}  // namespace
}  // namespace drover
