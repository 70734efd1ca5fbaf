// JobTally: what a worker counted about its jobs since it last told the supervisor (outcomes,
// durations and waits by queue and type), and the report-pipe line that carries it. Counts are
// kept until the line is written, so a busy pipe delays them and loses none. Pure; not
// thread-safe.
#ifndef DROVER_JOBS_JOB_TALLY_H_
#define DROVER_JOBS_JOB_TALLY_H_

#include <array>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <utility>

namespace drover {

// How one attempt ended, as drover_jobs_total{outcome} names it.
enum class JobOutcome { kSucceeded, kFailed, kRetried, kCancelled, kExpired, kInterrupted };
inline constexpr std::string_view kJobOutcomeNames[] = {"succeeded", "failed",  "retried",
                                                        "cancelled", "expired", "interrupted"};
inline constexpr int kJobOutcomeCount = static_cast<int>(std::size(kJobOutcomeNames));

// Upper bounds (seconds) of the duration and wait histograms' buckets; one more counts the rest.
inline constexpr std::array<double, 14> kJobSecondsBuckets = {0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1,
                                                              5,     10,    30,   60,   300, 900, 3600};
inline constexpr size_t kJobBucketCount = kJobSecondsBuckets.size() + 1;

// A histogram's increments: how many observations fell into each bucket (not cumulative), and
// their sum.
struct BucketCounts {
  std::array<std::int64_t, kJobBucketCount> counts{};
  double sum = 0;
  void Observe(double seconds);
  bool empty() const;
};

// Everything counted for one queue and type.
struct TallyEntry {
  std::array<std::int64_t, kJobOutcomeCount> outcomes{};
  BucketCounts duration;  // start to end of an attempt
  BucketCounts wait;      // run_at (or enqueue, if later) to start
};

class JobTally {
 public:
  using Key = std::pair<std::string, std::string>;  // queue, type

  void Finished(const std::string& queue, const std::string& type, JobOutcome outcome, double seconds);
  void Started(const std::string& queue, const std::string& type, double wait_seconds);
  bool empty() const { return entries_.empty(); }
  const std::map<Key, TallyEntry>& entries() const { return entries_; }
  void Clear() { entries_.clear(); }

  // One report line per queue and type ("tally {json}\n"), all together.
  std::string Lines() const;

 private:
  std::map<Key, TallyEntry> entries_;
};

// Reads the JSON after "tally "; nullopt when it is not one.
std::optional<std::pair<JobTally::Key, TallyEntry>> ParseTally(std::string_view json);

}  // namespace drover

#endif  // DROVER_JOBS_JOB_TALLY_H_
