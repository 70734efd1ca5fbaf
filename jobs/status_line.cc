#include "jobs/status_line.h"

#include <algorithm>
#include <nlohmann/json.hpp>

namespace drover {

Result<ProgressUpdate> ParseStatusLine(std::string_view line) {
  nlohmann::json j = nlohmann::json::parse(line, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded()) return Status::InvalidArgument("status line is not JSON");
  if (!j.is_object()) return Status::InvalidArgument("status line is not a JSON object");
  return ProgressFromJson(j);
}

Result<ProgressUpdate> ProgressFromJson(const nlohmann::json& j) {
  ProgressUpdate u;
  if (auto it = j.find("progress"); it != j.end()) {
    if (!it->is_number()) return Status::InvalidArgument("\"progress\" must be a number from 0 to 1");
    u.progress = std::clamp(it->get<double>(), 0.0, 1.0);
  }
  if (auto it = j.find("message"); it != j.end()) {
    if (!it->is_string()) return Status::InvalidArgument("\"message\" must be a string");
    u.message = it->get<std::string>().substr(0, 1024);
  }
  if (auto it = j.find("checkpoint"); it != j.end()) {
    u.checkpoint = it->dump();
    if (u.checkpoint->size() > kMaxCheckpointBytes) {
      return Status::InvalidArgument("checkpoint of " + std::to_string(u.checkpoint->size()) +
                                     " bytes is over the limit of 64 KiB; keep a position, not the data");
    }
  }
  return u;
}

}  // namespace drover
