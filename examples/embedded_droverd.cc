// An example of embedding drover: a program that registers in-process C++ handlers and runs
// the ordinary supervisor. Its config names the handlers as [jobs.NAME] without `command`.
//
//   [jobs.resize]
//   queue = "default"
//
// Run it like droverd: embedded_droverd -c drover.toml
#include <chrono>
#include <nlohmann/json.hpp>
#include <stdexcept>
#include <string>
#include <thread>

#include "jobs/handler.h"
#include "supervisor/supervisor.h"

int main(int argc, char** argv) {
  drover::HandlerRegistry handlers;

  // Does nothing: measures the job system itself.
  handlers.Register("noop", [](drover::JobContext&) { return drover::HandlerResult::Ok(); });

  // Sleeps for payload {"ms": N}, returning early when cancelled.
  handlers.Register("sleep", [](drover::JobContext& job) {
    int ms = nlohmann::json::parse(job.payload).value("ms", 100);
    // Until a deadline, not for a count of short naps: on a busy machine each nap oversleeps.
    const auto until = std::chrono::steady_clock::now() + std::chrono::milliseconds(ms);
    while (std::chrono::steady_clock::now() < until) {
      if (job.cancelled()) return drover::HandlerResult::Retry("stopped early: cancelled");
      std::this_thread::sleep_for(std::min<std::chrono::steady_clock::duration>(
          std::chrono::milliseconds(10), until - std::chrono::steady_clock::now()));
    }
    return drover::HandlerResult::Ok(R"({"slept_ms":)" + std::to_string(ms) + "}");
  });

  // Counts to {"to": N}, storing a checkpoint after every step so a retry resumes.
  handlers.Register("count", [](drover::JobContext& job) {
    int to = nlohmann::json::parse(job.payload).value("to", 10);
    int i = job.checkpoint ? nlohmann::json::parse(*job.checkpoint).value("i", 0) : 0;
    for (; i < to && !job.cancelled(); ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
      job.Progress(static_cast<double>(i + 1) / to, "step " + std::to_string(i + 1),
                   R"({"i":)" + std::to_string(i + 1) + "}");
    }
    if (i < to) return drover::HandlerResult::Retry("interrupted at step " + std::to_string(i));
    return drover::HandlerResult::Ok(R"({"counted":)" + std::to_string(to) + "}");
  });

  // Always throws: the exception becomes a failed attempt with its message.
  handlers.Register("explode",
                    [](drover::JobContext&) -> drover::HandlerResult { throw std::runtime_error("boom"); });

  return drover::DroverdMain(argc, argv, handlers);
}
