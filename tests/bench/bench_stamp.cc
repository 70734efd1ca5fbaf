// A command job for the latency benchmark: prints the CLOCK_MONOTONIC microsecond it started.
#include <cstdio>
#include <ctime>

int main() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  std::printf("%lld\n", static_cast<long long>(ts.tv_sec) * 1000000 + ts.tv_nsec / 1000);
  return 0;
}
