// Program: a real child process for tests and benchmarks that run Orion's own binary (or any
// program) from outside, as a user would: `orion engine`, `orion api`, `orion up`. Its stdout and
// stderr go to a file; a test waits for a line it prints (the URL it serves, ...), kills it with
// SIGKILL or stops it with SIGTERM and reads its exit status.
//
// Lifecycle: start() spawns → ... → the destructor SIGKILLs and reaps it if it still runs.
// Thread-safety: one owner thread.
#pragma once

#include <sys/types.h>

#include <filesystem>
#include <memory>
#include <optional>
#include <regex>
#include <string>
#include <vector>

#include "core/result.h"
#include "core/time.h"

namespace orion::testing {

class Program {
 public:
  // argv[0] is the executable's path. `env` entries ("NAME=value") are added to this process's
  // environment. Errors: "testing.spawn".
  static Result<std::unique_ptr<Program>> start(std::vector<std::string> argv,
                                                std::filesystem::path output,
                                                std::vector<std::string> env = {});
  ~Program();
  Program(const Program&) = delete;
  Program& operator=(const Program&) = delete;

  pid_t pid() const { return pid_; }
  std::string output() const;
  // The first submatch of `pattern` in the output, as soon as it appears; nullopt when the
  // program exited first or `limit` passed.
  std::optional<std::string> wait_for(const std::regex& pattern, Duration limit);
  bool running();
  // SIGKILL and reap; true when it died of that signal.
  bool sigkill();
  // SIGTERM, then waits up to `limit` for it to exit: its exit code, or -1 (killed by a signal,
  // or SIGKILLed after the limit).
  int terminate(Duration limit = Duration::seconds(30));

 private:
  Program(pid_t pid, std::filesystem::path output) : pid_(pid), output_(std::move(output)) {}
  pid_t pid_ = -1;
  std::filesystem::path output_;
};

}  // namespace orion::testing
