#include "jobs/runner_protocol.h"

#include <nlohmann/json.hpp>

#include "jobs/job_json.h"

namespace drover {

using json = nlohmann::json;

std::string RunMessage(const ClaimedJob& job, Duration timeout) {
  json m = EnvelopeObject(job);
  m.erase("id");
  m["timeout_ms"] = timeout.count();
  // "op" and "id" lead the line, outside anything the job's data holds, so that a runner that
  // cannot decode the rest (a payload nested too deeply for its parser) still knows which job
  // to fail.
  std::string rest = m.dump(-1, ' ', false, json::error_handler_t::replace);
  std::string line = "{\"op\":\"run\",\"id\":" + std::to_string(job.id) + ",";
  line.append(rest, 1);
  line += '\n';
  return line;
}

std::string CancelMessage(std::int64_t id, std::string_view reason) {
  json m = {{"op", "cancel"}, {"id", id}, {"reason", reason}};
  return m.dump() + "\n";
}

namespace {

Status Bad(const std::string& what) { return Status::InvalidArgument(what); }

Result<std::int64_t> JobId(const json& j) {
  auto it = j.find("id");
  if (it == j.end() || !it->is_number_integer()) return Bad("\"id\" must be the job's id (an integer)");
  return it->get<std::int64_t>();
}

}  // namespace

Result<RunnerMessage> ParseRunnerMessage(std::string_view line) {
  json j = json::parse(line, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded()) return Bad("not JSON");
  if (!j.is_object()) return Bad("not a JSON object");
  auto op_it = j.find("op");
  if (op_it == j.end() || !op_it->is_string()) return Bad("no \"op\" string");
  const std::string& op = op_it->get_ref<const std::string&>();
  RunnerMessage m;
  if (op == "hello") {
    m.op = RunnerMessage::Op::kHello;
    auto p = j.find("protocol");
    if (p == j.end() || !p->is_number_integer()) return Bad("hello: \"protocol\" must be an integer");
    m.protocol = p->get<int>();
    auto t = j.find("types");
    if (t == j.end() || !t->is_array()) return Bad("hello: \"types\" must be an array of job type names");
    for (const json& name : *t) {
      if (!name.is_string()) return Bad("hello: \"types\" must be an array of job type names");
      m.types.push_back(name.get<std::string>());
    }
    if (auto i = j.find("isolation"); i != j.end() && i->is_string()) m.isolation = i->get<std::string>();
    return m;
  }
  Result<std::int64_t> id = JobId(j);
  if (!id.ok()) return Status::InvalidArgument(op + ": " + id.status().message());
  m.id = *id;
  if (op == "progress" || op == "checkpoint") {
    m.op = RunnerMessage::Op::kProgress;
    Result<ProgressUpdate> u = ProgressFromJson(j);
    if (!u.ok()) return Status::InvalidArgument(op + ": " + u.status().message());
    m.progress = std::move(u).value();
    if (op == "checkpoint" && !m.progress.checkpoint) return Bad("checkpoint: no \"checkpoint\"");
    return m;
  }
  if (op == "done") {
    m.op = RunnerMessage::Op::kDone;
    auto r = j.find("result");
    m.result = r == j.end() ? "null" : r->dump(-1, ' ', false, json::error_handler_t::replace);
    return m;
  }
  if (op == "fail") {
    m.op = RunnerMessage::Op::kFail;
    auto e = j.find("error");
    if (e == j.end() || !e->is_string()) return Bad("fail: \"error\" must be a string");
    m.error = e->get<std::string>();
    if (auto r = j.find("retry"); r != j.end()) {
      if (!r->is_boolean()) return Bad("fail: \"retry\" must be true or false");
      m.retry = r->get<bool>();
    }
    return m;
  }
  return Bad("unknown op \"" + op + "\" (known: hello, progress, checkpoint, done, fail)");
}

}  // namespace drover
