// droverd with the benchmark's in-process handlers: "noop" and "stamp" (returns the
// CLOCK_MONOTONIC microsecond at which the handler started).
#include <string>

#include "common/time_util.h"
#include "jobs/handler.h"
#include "supervisor/supervisor.h"

int main(int argc, char** argv) {
  drover::HandlerRegistry handlers;
  handlers.Register("noop", [](drover::JobContext&) { return drover::HandlerResult::Ok(); });
  handlers.Register("stamp", [](drover::JobContext&) {
    return drover::HandlerResult::Ok(std::to_string(drover::MonotonicUs()));
  });
  return drover::DroverdMain(argc, argv, handlers);
}
