#include "common/unique_fd.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <unistd.h>

namespace drover {
namespace {

bool IsOpen(int fd) { return fcntl(fd, F_GETFD) != -1; }

TEST(UniqueFdTest, ClosesOnDestruction) {
  int raw;
  {
    Result<Pipe> p = MakePipe(false);
    ASSERT_TRUE(p.ok());
    raw = p->read.get();
    EXPECT_TRUE(IsOpen(raw));
  }
  EXPECT_FALSE(IsOpen(raw));
}

TEST(UniqueFdTest, MoveAssignmentClosesTheOldDescriptor) {
  Result<Pipe> a = MakePipe(false);
  Result<Pipe> b = MakePipe(false);
  ASSERT_TRUE(a.ok() && b.ok());
  int old_fd = a->read.get();
  int moved_fd = b->read.get();
  a->read = std::move(b->read);
  EXPECT_FALSE(IsOpen(old_fd));
  EXPECT_TRUE(IsOpen(moved_fd));
  EXPECT_EQ(a->read.get(), moved_fd);
  EXPECT_FALSE(b->read.valid());
}

TEST(UniqueFdTest, PipesAreCloseOnExecAndOptionallyNonBlocking) {
  Result<Pipe> p = MakePipe(true);
  ASSERT_TRUE(p.ok());
  EXPECT_TRUE(fcntl(p->read.get(), F_GETFD) & FD_CLOEXEC);
  EXPECT_TRUE(fcntl(p->write.get(), F_GETFL) & O_NONBLOCK);
  char c;
  EXPECT_EQ(read(p->read.get(), &c, 1), -1);
  ASSERT_TRUE(WriteAll(p->write.get(), "x", 1).ok());
  EXPECT_EQ(read(p->read.get(), &c, 1), 1);
  EXPECT_EQ(c, 'x');
}

TEST(UniqueFdTest, ReleaseGivesUpOwnership) {
  Result<Pipe> p = MakePipe(false);
  ASSERT_TRUE(p.ok());
  int fd = p->read.Release();
  EXPECT_FALSE(p->read.valid());
  EXPECT_TRUE(IsOpen(fd));
  close(fd);
}

}  // namespace
}  // namespace drover
