// Running the droverctl binary against a test daemon's config. Not thread-safe.
#ifndef DROVER_TESTS_INTEGRATION_CTL_H_
#define DROVER_TESTS_INTEGRATION_CTL_H_

#include <fstream>
#include <string>

#include "tests/integration/daemon.h"

namespace drover::testing {

// Runs `droverctl -c CONFIG ARGS` with `input` on stdin, capturing stdout and stderr together.
// `prefix` goes before the program (e.g. setpriv, to run it as another user).
inline ShellResult Ctl(const Daemon& d, const std::string& args, const std::string& input = "",
                       const std::string& prefix = "") {
  std::string in_file = d.dir() + "/ctl.in";
  std::ofstream(in_file) << input;
  return RunShell(prefix + DROVERCTL_PATH + " -c " + d.config() + " " + args + " <" + in_file + " 2>&1");
}

// Runs `droverctl -c CONFIG ARGS` on a terminal (a pty from script(1)); `typed` (printf format)
// is typed half a second later.
inline ShellResult AtTerminal(const Daemon& d, const std::string& args, const std::string& typed) {
  return RunShell("(sleep 0.5; printf '" + typed + "') | script -qfec '" + DROVERCTL_PATH + " -c " +
                  d.config() + " " + args + "' /dev/null 2>&1");
}

}  // namespace drover::testing

#endif  // DROVER_TESTS_INTEGRATION_CTL_H_
