// droverd's command line, shared by droverd itself and programs that embed drover.
#include <cstring>
#include <iostream>

#include "common/logging.h"
#include "supervisor/process_init.h"
#include "supervisor/supervisor.h"

namespace drover {
namespace {

constexpr const char* kUsage =
    "usage: droverd [-c FILE] [--check-config]\n"
    "  -c, --config FILE   configuration (default: $DROVER_CONFIG or /etc/drover/drover.toml)\n"
    "  --check-config      validate the configuration and exit (0 valid, 1 invalid)\n"
    "  --version           print the version\n";

}  // namespace

int DroverdMain(int argc, char** argv, const HandlerRegistry& handlers) {
  InitProcessTitle(argc, argv);
  KeepFreedMemory();
  const char* env = getenv("DROVER_CONFIG");
  std::string path = env && *env ? env : "/etc/drover/drover.toml";
  bool check = false;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if ((a == "-c" || a == "--config") && i + 1 < argc) {
      path = argv[++i];
    } else if (a == "--check-config") {
      check = true;
    } else if (a == "--version") {
      std::cout << "droverd " << DROVER_VERSION << "\n";
      return 0;
    } else if (a == "-h" || a == "--help") {
      std::cout << kUsage;
      return 0;
    } else {
      std::cerr << "droverd: unknown argument \"" << a << "\"\n" << kUsage;
      return 2;
    }
  }
  Result<Config> config = LoadConfig(path);
  Status s = config.ok() ? CheckHandlers(*config, handlers) : config.status();
  if (!s.ok()) {
    std::cerr << "droverd: invalid configuration:\n" << s.message() << "\n";
    return 1;
  }
  if (check) {
    std::cout << path << ": OK (" << config->pools.size() << " pool(s), " << config->jobs.size() << " job type(s), "
              << config->schedules.size() << " schedule(s))\n";
    return 0;
  }
  LogOptions lo{config->supervisor.log_level, config->supervisor.log_file};
  s = SetupLogging("supervisor", lo);
  if (!s.ok()) {
    std::cerr << "droverd: " << s.message() << "\n";
    return 1;
  }
  SetProcessTitle("drover: supervisor");
  return RunSupervisor(std::move(config).value(), handlers);
}

}  // namespace drover
