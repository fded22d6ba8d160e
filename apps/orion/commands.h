// Subcommands of the `orion` binary. Each module's command lives in its own
// apps/orion/cmd_<name>.cc, which registers itself with ORION_REGISTER_COMMAND; main.cc and
// the CMake file pick every cmd_*.cc up by themselves, so adding a command never edits them.
// A command's callback stores its exit code in `exit_code`.
#pragma once

#include <CLI/CLI.hpp>
#include <vector>

namespace orion::cli {

inline int exit_code = 0;

// Adds commands to the top-level app or under `orion bench`.
using Registrar = void (*)(CLI::App& app, CLI::App& bench);

inline std::vector<Registrar>& registrars() {
  static std::vector<Registrar> all;
  return all;
}

struct CommandRegistration {
  explicit CommandRegistration(Registrar r) { registrars().push_back(r); }
};

}  // namespace orion::cli

#define ORION_REGISTER_COMMAND(fn) \
  static const ::orion::cli::CommandRegistration orion_command_registration_##fn(fn)
