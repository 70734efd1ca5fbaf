#include "jobs/job_cgroup.h"

#include <gtest/gtest.h>
#include <sys/stat.h>

#include <fstream>

#include "tests/temp_dir.h"

namespace drover {
namespace {

std::string Read(const std::string& path) {
  std::ifstream in(path);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

TEST(JobCgroupTest, NamesCarryWorkerJobAndAttempt) { EXPECT_EQ(JobCgroupName(42, 7, 3), "job-42-7-3"); }

// A stand-in for a cgroup directory: the files the kernel would provide, as plain files.
TEST(JobCgroupTest, LimitsAreWrittenWhereTheirControllersAre) {
  TempDir dir;
  std::string root = dir.path() + "/drover-x-";
  std::string cg = root + "job-1-2-1";
  ASSERT_EQ(mkdir(cg.c_str(), 0755), 0);
  for (const char* f : {"cgroup.procs", "pids.max", "memory.max"}) std::ofstream(cg + "/" + f) << "";
  std::vector<std::string> not_applied;
  Result<JobCgroup> c = JobCgroup::Create(root, "job-1-2-1", {10, 1 << 20}, &not_applied);
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  EXPECT_EQ(c->path(), cg);
  EXPECT_GE(c->procs_fd(), 0);
  EXPECT_EQ(Read(cg + "/pids.max"), "10");
  EXPECT_EQ(Read(cg + "/memory.max"), "1048576");
  EXPECT_TRUE(not_applied.empty());
}

TEST(JobCgroupTest, ALimitWithoutItsControllerIsReportedNotApplied) {
  TempDir dir;
  std::string root = dir.path() + "/drover-x-";
  std::string cg = root + "job-1-3-1";
  ASSERT_EQ(mkdir(cg.c_str(), 0755), 0);
  std::ofstream(cg + "/cgroup.procs") << "";
  std::vector<std::string> not_applied;
  Result<JobCgroup> c = JobCgroup::Create(root, "job-1-3-1", {10, std::nullopt}, &not_applied);
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  EXPECT_EQ(not_applied, std::vector<std::string>{"max_processes"});
}

TEST(JobCgroupTest, CreateFailsNamingThePath) {
  Result<JobCgroup> c = JobCgroup::Create("/nonexistent-dir/drover-x-", "job-1-1-1");
  ASSERT_FALSE(c.ok());
  EXPECT_NE(c.status().message().find("/nonexistent-dir/drover-x-job-1-1-1"), std::string::npos);
}

}  // namespace
}  // namespace drover
