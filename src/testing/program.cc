#include "testing/program.h"

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <fstream>
#include <sstream>
#include <thread>

extern char** environ;

namespace orion::testing {

Result<std::unique_ptr<Program>> Program::start(std::vector<std::string> argv,
                                                std::filesystem::path output,
                                                std::vector<std::string> env) {
  if (argv.empty()) return make_error("testing.spawn", "no program given");
  std::vector<std::string> envs;
  for (char** e = environ; *e != nullptr; ++e) envs.emplace_back(*e);
  for (auto& e : env) envs.push_back(std::move(e));
  std::vector<char*> cargv, cenv;
  for (auto& a : argv) cargv.push_back(a.data());
  cargv.push_back(nullptr);
  for (auto& e : envs) cenv.push_back(e.data());
  cenv.push_back(nullptr);
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_addopen(&fa, 1, output.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
  posix_spawn_file_actions_adddup2(&fa, 1, 2);
  pid_t pid = -1;
  const int rc = posix_spawn(&pid, argv[0].c_str(), &fa, nullptr, cargv.data(), cenv.data());
  posix_spawn_file_actions_destroy(&fa);
  if (rc != 0)
    return make_error("testing.spawn", "cannot run " + argv[0] + ": " + std::strerror(rc));
  return std::unique_ptr<Program>(new Program(pid, std::move(output)));
}

Program::~Program() {
  if (pid_ > 0) sigkill();
}

std::string Program::output() const {
  std::ifstream in(output_);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

bool Program::running() {
  if (pid_ <= 0) return false;
  int status = 0;
  if (::waitpid(pid_, &status, WNOHANG) == pid_) {
    pid_ = -1;
    return false;
  }
  return true;
}

std::optional<std::string> Program::wait_for(const std::regex& pattern, Duration limit) {
  const auto end = std::chrono::steady_clock::now() + limit.to_chrono();
  while (true) {
    std::smatch m;
    const std::string text = output();
    if (std::regex_search(text, m, pattern)) return m.size() > 1 ? m[1].str() : m[0].str();
    if (!running() || std::chrono::steady_clock::now() >= end) return std::nullopt;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));  // polling a file: nothing notifies
  }
}

bool Program::sigkill() {
  if (pid_ <= 0) return false;
  ::kill(pid_, SIGKILL);
  int status = 0;
  const pid_t got = ::waitpid(pid_, &status, 0);
  pid_ = -1;
  return got > 0 && WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL;
}

int Program::terminate(Duration limit) {
  if (pid_ <= 0) return -1;
  ::kill(pid_, SIGTERM);
  const auto end = std::chrono::steady_clock::now() + limit.to_chrono();
  int status = 0;
  while (std::chrono::steady_clock::now() < end) {
    if (::waitpid(pid_, &status, WNOHANG) == pid_) {
      pid_ = -1;
      return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));  // waiting for a child to exit
  }
  sigkill();
  return -1;
}

}  // namespace orion::testing
