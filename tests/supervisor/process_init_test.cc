#include "supervisor/process_init.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <vector>

#include "common/unique_fd.h"
#include "tests/in_child.h"

namespace drover {
namespace {

bool IsOpen(int fd) { return fcntl(fd, F_GETFD) != -1; }

TEST(ProcessInitTest, KeptFdsAreRenumberedInOrderAndEveryOtherIsClosed) {
  Result<Pipe> a = MakePipe(false), b = MakePipe(false);
  ASSERT_TRUE(a.ok() && b.ok());
  int code = InChild([&] {
    // The second kept fd sits at 3, where the first must go: moving one must not lose the other.
    int first = dup(a->write.get());
    dup2(b->write.get(), 3);
    int stray = open("/dev/null", O_RDONLY);
    int fds[] = {first, 3};
    ResetChildAfterFork(fds, getppid());
    if (fds[0] != 3 || fds[1] != 4) return 1;
    if (IsOpen(5) || IsOpen(stray)) return 2;
    if (!(fcntl(3, F_GETFD) & FD_CLOEXEC)) return 3;  // a job must not inherit the report pipe
    if (write(3, "a", 1) != 1 || write(4, "b", 1) != 1) return 4;
    sigset_t mask;
    sigprocmask(SIG_SETMASK, nullptr, &mask);
    return sigismember(&mask, SIGTERM) ? 5 : 0;
  });
  EXPECT_EQ(code, 0);
  char c = 0;
  ASSERT_EQ(read(a->read.get(), &c, 1), 1);
  EXPECT_EQ(c, 'a');
  ASSERT_EQ(read(b->read.get(), &c, 1), 1);
  EXPECT_EQ(c, 'b');
}

// Pages of [p, p + len) in memory.
size_t Resident(void* p, size_t len) {
  std::vector<unsigned char> v(len / 4096);
  if (mincore(p, len, v.data()) != 0) return 0;
  size_t n = 0;
  for (unsigned char c : v) n += c & 1;
  return n;
}

TEST(ProcessInitTest, PrefaultMakesWritablePagesResidentAndSkipsLargeMappings) {
  int code = InChild([] {
    const size_t small = 2 << 20, large = 16 << 20;
    // One reservation split by a guard page, so the two parts stay separate mappings.
    char* a = static_cast<char*>(
        mmap(nullptr, small + 4096 + large, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0));
    if (a == MAP_FAILED || mprotect(a + small, 4096, PROT_NONE) != 0) return 1;
    char* b = a + small + 4096;
    if (Resident(a, small) != 0 || Resident(b, large) != 0) return 2;
    if (PrefaultWritableMemory(8 << 20) < small) return 3;
    if (Resident(a, small) != small / 4096) return 4;
    if (Resident(b, large) != 0) return 5;  // over the limit: left alone
    return 0;
  });
  EXPECT_EQ(code, 0);
}

TEST(ProcessInitTest, FreedMemoryStaysInTheHeapForReuse) {
#ifdef DROVER_SANITIZED
  GTEST_SKIP() << "ASan's allocator replaces glibc malloc and its settings";
#endif
  auto grow_and_free = [] {
    void* (*volatile allocate)(size_t) = malloc;  // through a pointer: not optimised away
    void (*volatile release)(void*) = free;
    char* top0 = static_cast<char*>(sbrk(0));
    char* p = static_cast<char*>(allocate(2 << 20));
    memset(p, 1, 2 << 20);
    char* top1 = static_cast<char*>(sbrk(0));
    release(p);
    char* top2 = static_cast<char*>(sbrk(0));
    if (top1 <= top0) return 1;  // served by mmap, not the heap
    return top2 < top1 ? 2 : 0;  // handed back to the kernel
  };
  EXPECT_EQ(InChild(grow_and_free), 1);  // glibc's defaults: mmap for 2 MiB
  EXPECT_EQ(InChild([&] {
              KeepFreedMemory();
              return grow_and_free();
            }),
            0);
}

}  // namespace
}  // namespace drover
