// Cron expressions: parsing never crashes; an accepted expression fires, strictly later than
// asked, at a minute it matches.
#include <cstddef>
#include <cstdint>
#include <string>

#include "common/cron.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string text(reinterpret_cast<const char*>(data), size);
  drover::Result<drover::CronExpr> e = drover::CronExpr::Parse(text);
  if (!e.ok()) return 0;
  static const drover::TimeZone utc = std::move(drover::TimeZone::Load("UTC")).value();
  const std::int64_t after = 1'795'000'000;  // 2026-11-18
  std::optional<std::int64_t> next = e->Next(after, utc);
  if (!next || *next <= after || !e->Matches(drover::CivilFromUtcSeconds(*next))) __builtin_trap();
  return 0;
}
