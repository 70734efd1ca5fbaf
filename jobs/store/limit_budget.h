// LimitBudget: how full each running limit is during one claim, and whether one more job of a
// type and resource fits. Every backend's claim under limits counts what runs, then picks jobs
// through it.
#ifndef DROVER_JOBS_STORE_LIMIT_BUDGET_H_
#define DROVER_JOBS_STORE_LIMIT_BUDGET_H_

#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "jobs/job.h"

namespace drover {

class LimitBudget {
 public:
  explicit LimitBudget(const std::vector<RunningLimit>& limits);

  // Every type some limit caps.
  std::vector<std::string> LimitedTypes() const;
  // Counts `count` more running jobs of `type` and `resource`.
  void Add(const std::string& type, const std::optional<std::string>& resource, int count);
  bool Fits(const std::string& type, const std::optional<std::string>& resource) const;
  // True when `n` more jobs fit whatever their types and resources: the claim need not look.
  bool Room(int n) const;
  // The types no job of which fits, and the (type, resource) pairs no job of which fits: what
  // the next page of candidates leaves out.
  std::vector<std::string> FullTypes() const;
  std::vector<std::pair<std::string, std::string>> FullPairs() const;

 private:
  // Whether limit `i` takes no more jobs: in all, or (a per-resource limit) for `resource`. A
  // per-resource limit never binds a job without a resource.
  bool Full(size_t i, const std::optional<std::string>& resource) const;

  struct Used {
    int total = 0;
    std::map<std::string, int> by_resource;
  };
  const std::vector<RunningLimit>& limits_;
  std::vector<Used> used_;
  std::map<std::string, std::vector<size_t>> by_type_;  // type -> its limits
};

}  // namespace drover

#endif  // DROVER_JOBS_STORE_LIMIT_BUDGET_H_
