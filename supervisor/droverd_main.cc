// droverd: the supervisor, with no in-process handlers (command jobs only).
#include "supervisor/supervisor.h"

int main(int argc, char** argv) {
  drover::HandlerRegistry handlers;
  return drover::DroverdMain(argc, argv, handlers);
}
