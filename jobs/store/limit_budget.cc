#include "jobs/store/limit_budget.h"

#include <algorithm>

namespace drover {

LimitBudget::LimitBudget(const std::vector<RunningLimit>& limits) : limits_(limits), used_(limits.size()) {
  for (size_t i = 0; i < limits.size(); ++i) {
    for (const std::string& t : limits[i].types) by_type_[t].push_back(i);
  }
}

std::vector<std::string> LimitBudget::LimitedTypes() const {
  std::vector<std::string> out;
  for (const auto& [type, _] : by_type_) out.push_back(type);
  return out;
}

void LimitBudget::Add(const std::string& type, const std::optional<std::string>& resource, int count) {
  auto it = by_type_.find(type);
  if (it == by_type_.end()) return;
  for (size_t i : it->second) {
    if (!limits_[i].per_resource)
      used_[i].total += count;
    else if (resource)
      used_[i].by_resource[*resource] += count;
  }
}

bool LimitBudget::Fits(const std::string& type, const std::optional<std::string>& resource) const {
  auto it = by_type_.find(type);
  if (it == by_type_.end()) return true;
  for (size_t i : it->second) {
    if (Full(i, limits_[i].per_resource ? resource : std::nullopt)) return false;
  }
  return true;
}

bool LimitBudget::Room(int n) const {
  for (size_t i = 0; i < limits_.size(); ++i) {
    int most = used_[i].total;
    for (const auto& [_, k] : used_[i].by_resource) most = std::max(most, k);
    if (most + n > limits_[i].max_running) return false;
  }
  return true;
}

std::vector<std::string> LimitBudget::FullTypes() const {
  std::vector<std::string> out;
  for (size_t i = 0; i < limits_.size(); ++i) {
    if (limits_[i].per_resource || !Full(i, std::nullopt)) continue;
    for (const std::string& t : limits_[i].types) out.push_back(t);
  }
  return out;
}

std::vector<std::pair<std::string, std::string>> LimitBudget::FullPairs() const {
  std::vector<std::pair<std::string, std::string>> out;
  for (size_t i = 0; i < limits_.size(); ++i) {
    if (!limits_[i].per_resource) continue;
    for (const auto& [resource, _] : used_[i].by_resource) {
      if (!Full(i, resource)) continue;
      for (const std::string& t : limits_[i].types) out.emplace_back(t, resource);
    }
  }
  return out;
}

bool LimitBudget::Full(size_t i, const std::optional<std::string>& resource) const {
  if (!limits_[i].per_resource) return used_[i].total >= limits_[i].max_running;
  if (!resource) return false;
  auto r = used_[i].by_resource.find(*resource);
  return r != used_[i].by_resource.end() && r->second >= limits_[i].max_running;
}

}  // namespace drover
