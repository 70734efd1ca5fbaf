// The command job of the chaos test. It records every attempt in an append-only log (each
// line fsynced) and holds an exclusive lock named after its job id while it runs: a second copy
// of the same job running at the same time cannot take the lock and logs "overlap".
//
//   chaos_job LOG LOCK_DIR    payload on stdin: {"ms": N, "fail": K}: sleep N ms, fail attempts <= K
#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <iterator>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>

namespace {

void Append(const char* log, const std::string& line) {
  int fd = open(log, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
  if (fd < 0) std::exit(2);
  std::string l = line + "\n";
  if (write(fd, l.data(), l.size()) != static_cast<ssize_t>(l.size())) std::exit(2);
  fsync(fd);
  close(fd);
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 3) return 2;
  const char* id = getenv("DROVER_JOB_ID");
  const char* attempt = getenv("DROVER_ATTEMPT");
  if (id == nullptr || attempt == nullptr) return 2;
  std::string payload(std::istreambuf_iterator<char>(std::cin), {});
  nlohmann::json p = nlohmann::json::parse(payload, nullptr, false);
  const int ms = p.is_object() ? p.value("ms", 0) : 0;
  const int fail = p.is_object() ? p.value("fail", 0) : 0;
  const std::string who = std::string(id) + " " + attempt + " " + std::to_string(getpid());

  int lock = open((std::string(argv[2]) + "/" + id).c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (lock < 0) return 2;
  if (flock(lock, LOCK_EX | LOCK_NB) != 0) {
    Append(argv[1], "overlap " + who);
    return 3;
  }
  Append(argv[1], "start " + who);
  std::this_thread::sleep_for(std::chrono::milliseconds(ms));
  if (std::atoi(attempt) <= fail) {
    Append(argv[1], "fail " + who);
    return 1;
  }
  Append(argv[1], "end " + who);
  std::printf("{\"attempt\":%s}\n", attempt);
  return 0;
}
