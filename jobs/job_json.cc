#include "jobs/job_json.h"

#include "common/time_util.h"

namespace drover {
namespace {

using json = nlohmann::json;

json Time(const std::optional<std::int64_t>& ms) { return ms ? json(FormatRfc3339(*ms)) : json(nullptr); }

// JSON text as JSON when it parses, else as a string (a command's plain-text output).
json Embedded(const std::optional<std::string>& text) {
  if (!text) return nullptr;
  json j = json::parse(*text, nullptr, false);
  return j.is_discarded() ? json(*text) : j;
}

}  // namespace

json JobToJson(const Job& j) {
  json errors = json::parse(j.errors, nullptr, false);
  if (errors.is_array()) {
    for (json& e : errors) {
      if (e.contains("at") && e["at"].is_number_integer())
        e["at"] = FormatRfc3339(e["at"].get<std::int64_t>());
    }
  } else {
    errors = json::array();
  }
  return json{
      {"id", j.id},
      {"type", j.type},
      {"queue", j.queue},
      {"state", JobStateName(j.state)},
      {"priority", j.priority},
      {"attempts", j.attempts},
      {"max_attempts", j.max_attempts},
      {"payload", Embedded(j.payload)},
      {"run_at", FormatRfc3339(j.run_at_ms)},
      {"expires_at", Time(j.expires_at_ms)},
      {"enqueued_at", FormatRfc3339(j.enqueued_at_ms)},
      {"started_at", Time(j.started_at_ms)},
      {"finished_at", Time(j.finished_at_ms)},
      {"unique_key", j.unique_key ? json(*j.unique_key) : json(nullptr)},
      {"resource", j.resource ? json(*j.resource) : json(nullptr)},
      {"worker", j.worker ? json(*j.worker) : json(nullptr)},
      {"pid", j.pid ? json(*j.pid) : json(nullptr)},
      {"lease_until", Time(j.lease_until_ms)},
      {"result", Embedded(j.result)},
      {"last_error", j.last_error ? json(*j.last_error) : json(nullptr)},
      {"errors", errors},
      {"progress", j.progress ? json(*j.progress) : json(nullptr)},
      {"progress_message", j.progress_message ? json(*j.progress_message) : json(nullptr)},
      {"checkpoint", Embedded(j.checkpoint)},
      {"cancel_requested", j.cancel_requested},
  };
}

std::string EnvelopeJson(const ClaimedJob& job) { return EnvelopeObject(job).dump(); }

nlohmann::json EnvelopeObject(const ClaimedJob& job) {
  nlohmann::json e;
  e["id"] = job.id;
  e["type"] = job.type;
  e["queue"] = job.queue;
  e["attempt"] = job.attempt;
  e["max_attempts"] = job.max_attempts;
  nlohmann::json payload = nlohmann::json::parse(job.payload, nullptr, false);
  e["payload"] = payload.is_discarded() ? nlohmann::json(job.payload) : std::move(payload);
  nlohmann::json checkpoint = nlohmann::json::parse(job.checkpoint.value_or("null"), nullptr, false);
  e["checkpoint"] = checkpoint.is_discarded() ? nlohmann::json(*job.checkpoint) : std::move(checkpoint);
  return e;
}

std::string UniqueKeyFor(const std::string& type, const std::string& payload) {
  std::string canonical = json::parse(payload, nullptr, false).dump();
  // FNV-1a's scheme; the basis is not the standard one (a digit short), and stays: keys already
  // stored must keep matching. The Python client (drover.unique_key_for) computes the same.
  std::uint64_t h = 1469598103934665603ULL;
  for (unsigned char c : canonical) {
    h ^= c;
    h *= 1099511628211ULL;
  }
  char hex[17];
  snprintf(hex, sizeof hex, "%016llx", static_cast<unsigned long long>(h));
  return type + ":" + hex;
}

}  // namespace drover
