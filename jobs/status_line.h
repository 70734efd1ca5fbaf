// Parsing of the JSON lines a job writes to DROVER_STATUS_FD. Pure; thread-safe.
#ifndef DROVER_JOBS_STATUS_LINE_H_
#define DROVER_JOBS_STATUS_LINE_H_

#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>

#include "common/status.h"

namespace drover {

struct ProgressUpdate {
  std::optional<double> progress;  // clamped to [0, 1]
  std::optional<std::string> message;
  std::optional<std::string> checkpoint;  // JSON text
};

// A checkpoint travels to the next attempt in the environment (DROVER_CHECKPOINT), where one
// string may hold at most 128 KiB; larger ones are refused when reported.
inline constexpr size_t kMaxCheckpointBytes = 64 << 10;

// Parses one line such as {"progress":0.4,"message":"page 40/100","checkpoint":{...}}.
// Unknown keys are ignored; InvalidArgument for non-JSON, a non-object, or wrongly typed keys.
Result<ProgressUpdate> ParseStatusLine(std::string_view line);

// The same for a line already parsed (a runner's progress message): the keys of `j`, an object.
Result<ProgressUpdate> ProgressFromJson(const nlohmann::json& j);

}  // namespace drover

#endif  // DROVER_JOBS_STATUS_LINE_H_
