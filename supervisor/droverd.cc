// droverd's command line, shared by droverd itself and programs that embed drover.
#include <sys/resource.h>
#include <sys/stat.h>

#include <cstring>
#include <filesystem>
#include <iostream>
#include <string>
#include <utility>
#include <vector>

#include "common/logging.h"
#include "jobs/store/open_job_store.h"
#include "supervisor/http_auth.h"
#include "supervisor/process_init.h"
#include "supervisor/supervisor.h"

namespace drover {
namespace {

constexpr const char* kUsage =
    "usage: droverd [-c FILE] [--check-config [--strict]]\n"
    "  -c, --config FILE   configuration (default: $DROVER_CONFIG or /etc/drover/drover.toml)\n"
    "  --check-config      validate the configuration and exit (0 valid, 1 invalid); warnings\n"
    "                      name what it probably got wrong\n"
    "  --strict            with --check-config: warnings make it invalid\n"
    "  --version           print the version\n";

// Files droverd creates in a directory anyone may write to can be swapped or pre-planted by
// another user (a link where the socket, pidfile or log should be).
std::vector<std::string> PathWarnings(const SupervisorConfig& s) {
  std::vector<std::string> out;
  for (auto [key, file] : {std::pair<const char*, const std::string*>{"socket", &s.socket},
                           {"pidfile", &s.pidfile},
                           {"log_file", &s.log_file},
                           {"database", &s.database}}) {
    if (file->empty() || (file == &s.database && IsDatabaseUrl(s.database))) continue;
    std::string dir = std::filesystem::path(*file).parent_path().string();
    struct stat st;
    if (stat(dir.empty() ? "." : dir.c_str(), &st) == 0 && (st.st_mode & S_IWOTH)) {
      out.push_back(std::string("[supervisor] ") + key + " " + *file + " is in " + dir +
                    ", which every user may write to; use a directory of drover's own (e.g. /run/drover)");
    }
  }
  return out;
}

}  // namespace

int DroverdMain(int argc, char** argv, const HandlerRegistry& handlers) {
  InitProcessTitle(argc, argv);
  KeepFreedMemory();
  const char* env = getenv("DROVER_CONFIG");
  std::string path = env && *env ? env : "/etc/drover/drover.toml";
  bool check = false, strict = false;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if ((a == "-c" || a == "--config") && i + 1 < argc) {
      path = argv[++i];
    } else if (a == "--check-config") {
      check = true;
    } else if (a == "--strict") {
      strict = true;
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
  if (s.ok()) s = HttpAuth::Load(config->http.auth).status();  // the file it names must be usable
  if (!s.ok()) {
    std::cerr << "droverd: invalid configuration:\n" << s.message() << "\n";
    return 1;
  }
  if (check) {
    std::vector<std::string> warnings = PathWarnings(config->supervisor);
    for (std::string& w : ConfigWarnings(*config)) warnings.push_back(std::move(w));
    for (const std::string& w : warnings)
      std::cerr << path << ": " << (strict ? "error: " : "warning: ") << w << "\n";
    if (strict && !warnings.empty()) {
      std::cerr << "droverd: " << path << ": " << warnings.size() << " problem(s) (--strict)\n";
      return 1;
    }
    if (IsPostgresDatabase(config->supervisor.database)) {
      // The server must be there and the schema one this drover can use.
      Result<std::string> db = DescribePostgres(StoreConfigFor(config->supervisor));
      if (!db.ok()) {
        std::cerr << "droverd: " << path << ": " << db.status().message() << "\n";
        return 1;
      }
      std::cout << path << ": " << *db << "\n";
    }
    std::cout << path << ": OK (" << config->pools.size() << " pool(s), " << config->jobs.size()
              << " job type(s), " << config->schedules.size() << " schedule(s))\n";
    return 0;
  }
  // Each child moves its descriptors above 100 before it sets them in place, and the control
  // socket takes up to 256 clients: below this droverd would start children that cannot work.
  constexpr rlim_t kMinOpenFiles = 256;
  if (rlimit nofile; getrlimit(RLIMIT_NOFILE, &nofile) == 0 && nofile.rlim_cur < kMinOpenFiles) {
    std::cerr << "droverd: the open-file limit is " << nofile.rlim_cur << "; droverd needs at least "
              << kMinOpenFiles << " (ulimit -n, or LimitNOFILE= in its unit)\n";
    return 1;
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
