// Helpers for the benchmark programs: medians, forking N processes, failing fast.
// Not thread-safe.
#ifndef DROVER_TESTS_BENCH_BENCH_UTIL_H_
#define DROVER_TESTS_BENCH_BENCH_UTIL_H_

#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "common/status.h"
#include "jobs/store/sqlite_store.h"

namespace drover::bench {

inline double Median(std::vector<double> v) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  size_t n = v.size();
  return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

inline double Percentile(std::vector<double> v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  size_t idx = static_cast<size_t>(p / 100.0 * static_cast<double>(v.size() - 1) + 0.5);
  return v[std::min(idx, v.size() - 1)];
}

// Runs `body(i)` in `n` forked processes at once and waits for all; false if any failed.
inline bool RunInProcesses(int n, const std::function<int(int)>& body) {
  std::vector<pid_t> pids;
  for (int i = 0; i < n; ++i) {
    pid_t p = fork();
    if (p < 0) return false;
    if (p == 0) _exit(body(i));
    pids.push_back(p);
  }
  bool ok = true;
  for (pid_t p : pids) {
    int st = 0;
    while (waitpid(p, &st, 0) < 0) {
    }
    if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) ok = false;
  }
  return ok;
}

// A benchmark cannot go on after an error: print it and exit 1.
inline void Check(const Status& s) {
  if (!s.ok()) {
    std::fprintf(stderr, "bench: %s\n", s.ToString().c_str());
    std::exit(1);
  }
}

// The benchmarks measure the SQLite backend against raw SQLite: they open it directly.
inline std::unique_ptr<SqliteJobStore> OpenStore(const std::string& path, StoreConfig config = {}) {
  config.database = path;
  Result<std::unique_ptr<SqliteJobStore>> s = SqliteJobStore::Open(config);
  Check(s.status());
  return std::move(s).value();
}

}  // namespace drover::bench

#endif  // DROVER_TESTS_BENCH_BENCH_UTIL_H_
