#include "jobs/job_tally.h"

#include <algorithm>
#include <nlohmann/json.hpp>

namespace drover {

using json = nlohmann::json;

void BucketCounts::Observe(double seconds) {
  seconds = std::max(seconds, 0.0);
  size_t i =
      static_cast<size_t>(std::lower_bound(kJobSecondsBuckets.begin(), kJobSecondsBuckets.end(), seconds) -
                          kJobSecondsBuckets.begin());
  ++counts[i];
  sum += seconds;
}

bool BucketCounts::empty() const {
  return std::all_of(counts.begin(), counts.end(), [](std::int64_t n) { return n == 0; });
}

void JobTally::Finished(const std::string& queue, const std::string& type, JobOutcome outcome,
                        double seconds) {
  TallyEntry& e = entries_[{queue, type}];
  ++e.outcomes[static_cast<int>(outcome)];
  e.duration.Observe(seconds);
}

void JobTally::Started(const std::string& queue, const std::string& type, double wait_seconds) {
  entries_[{queue, type}].wait.Observe(wait_seconds);
}

namespace {

json BucketsJson(const BucketCounts& b) {
  json j = json::array();
  j.push_back(b.sum);
  for (std::int64_t n : b.counts) j.push_back(n);
  return j;
}

bool ReadBuckets(const json& j, BucketCounts* b) {
  if (!j.is_array() || j.size() != kJobBucketCount + 1 || !j[0].is_number()) return false;
  b->sum = j[0].get<double>();
  for (size_t i = 0; i < kJobBucketCount; ++i) {
    if (!j[i + 1].is_number_integer() || j[i + 1].get<std::int64_t>() < 0) return false;
    b->counts[i] = j[i + 1].get<std::int64_t>();
  }
  return true;
}

}  // namespace

std::string JobTally::Lines() const {
  std::string out;
  for (const auto& [key, e] : entries_) {
    json j = {{"q", key.first}, {"t", key.second}, {"o", e.outcomes}};
    if (!e.duration.empty()) j["d"] = BucketsJson(e.duration);
    if (!e.wait.empty()) j["w"] = BucketsJson(e.wait);
    // Replacement of bad UTF-8: a queue or type came from the store and may hold any bytes.
    out += "tally " + j.dump(-1, ' ', false, json::error_handler_t::replace) + "\n";
  }
  return out;
}

std::optional<std::pair<JobTally::Key, TallyEntry>> ParseTally(std::string_view text) {
  json j = json::parse(text, nullptr, false);
  if (!j.is_object() || !j.contains("q") || !j["q"].is_string() || !j.contains("t") || !j["t"].is_string() ||
      !j.contains("o") || !j["o"].is_array() || j["o"].size() != kJobOutcomeCount) {
    return std::nullopt;
  }
  TallyEntry e;
  for (int i = 0; i < kJobOutcomeCount; ++i) {
    if (!j["o"][i].is_number_integer() || j["o"][i].get<std::int64_t>() < 0) return std::nullopt;
    e.outcomes[i] = j["o"][i].get<std::int64_t>();
  }
  if (j.contains("d") && !ReadBuckets(j["d"], &e.duration)) return std::nullopt;
  if (j.contains("w") && !ReadBuckets(j["w"], &e.wait)) return std::nullopt;
  return std::make_pair(JobTally::Key{j["q"].get<std::string>(), j["t"].get<std::string>()}, e);
}

}  // namespace drover
