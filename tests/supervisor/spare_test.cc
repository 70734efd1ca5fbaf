#include "supervisor/spare.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include "common/unique_fd.h"
#include "jobs/store/open_job_store.h"
#include "tests/temp_dir.h"

namespace drover {
namespace {

class SpareTest : public ::testing::Test {
 protected:
  void SetUp() override {
    Result<std::unique_ptr<JobStore>> s = OpenJobStore({.database = dir_.path() + "/drover.db"});
    ASSERT_TRUE(s.ok()) << s.status().ToString();
    store_ = std::move(s).value();
  }

  // A running job claimed by `worker`.
  std::int64_t Claimed(const std::string& worker) {
    EnqueueRequest r;
    r.type = "t";
    std::int64_t id = store_->Enqueue(r)->id;
    EXPECT_EQ(store_->Claim(worker, {"default"}, 1)->size(), 1u);
    return id;
  }

  // Runs ServeAsSpare over `commands` (written and closed first); returns the name it
  // returned and everything it reported.
  std::pair<std::string, std::string> Serve(const std::string& commands) {
    Result<Pipe> in = MakePipe(false), out = MakePipe(false);
    EXPECT_TRUE(in.ok() && out.ok());
    EXPECT_TRUE(WriteAll(in->write.get(), commands.data(), commands.size()).ok());
    in->write.Reset();
    std::string name = ServeAsSpare(store_.get(), in->read.get(), out->write.get());
    out->write.Reset();
    std::string reported;
    char buf[4096];
    ssize_t n;
    while ((n = read(out->read.get(), buf, sizeof buf)) > 0) reported.append(buf, static_cast<size_t>(n));
    return {name, reported};
  }

  TempDir dir_;
  std::unique_ptr<JobStore> store_;
};

TEST_F(SpareTest, RecoversOnlyTheNamedWorkersJobsThenReturnsTheNameToBecome) {
  std::int64_t dead = Claimed("worker:default:0@100");
  std::int64_t other = Claimed("worker:default:1@101");
  std::string cmds = RecoverCommand({"worker:default:0@100", true, "worker died: killed\nby signal 9"}) +
                     BecomeCommand("worker:default:0");
  auto [name, reported] = Serve(cmds);
  EXPECT_EQ(name, "worker:default:0");
  EXPECT_EQ(reported, "spare\nrecovered worker:default:0@100 1\n");
  Job j = *store_->Get(dead);
  EXPECT_EQ(j.state, JobState::kQueued);
  EXPECT_EQ(j.last_error, "worker died: killed by signal 9");  // one line on the pipe
  EXPECT_EQ(store_->Get(other)->state, JobState::kRunning);
}

TEST_F(SpareTest, AnswersEveryRecoverAndStopsWhenThePipeCloses) {
  std::int64_t id = Claimed("worker:default:0@100");
  auto [name, reported] = Serve(RecoverCommand({"worker:default:0@100", false, "interrupted"}) +
                                RecoverCommand({"worker:default:9@999", true, "gone"}) + "frobnicate\n");
  EXPECT_EQ(name, "");
  EXPECT_EQ(reported, "spare\nrecovered worker:default:0@100 1\nrecovered worker:default:9@999 0\n");
  EXPECT_EQ(store_->Get(id)->attempts, 0);  // refunded: interrupted, not crashed
}

TEST_F(SpareTest, ARecoverWithoutAWorkerIdTouchesNothing) {
  std::int64_t id = Claimed("worker:default:0@100");
  auto [name, reported] = Serve("recover 1\nrecover 1 \n");
  EXPECT_EQ(reported, "spare\nrecover-failed ? no worker id\nrecover-failed ? no worker id\n");
  EXPECT_EQ(store_->Get(id)->state, JobState::kRunning);
}

}  // namespace
}  // namespace drover
