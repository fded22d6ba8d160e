#include <cstdio>

#include "commands.h"
#include "version.h"

namespace orion::cli {

void add_version_command(CLI::App& app) {
  auto* cmd = app.add_subcommand("version", "Print Orion's version");
  cmd->callback([] { std::printf("orion %s\n", ORION_VERSION); });
}

}  // namespace orion::cli
