#include <cstdio>

#include "commands.h"
#include "version.h"

namespace {

void add_version(CLI::App& app, CLI::App& /*bench*/) {
  auto* cmd = app.add_subcommand("version", "Print Orion's version");
  cmd->callback([] { std::printf("orion %s\n", ORION_VERSION); });
}

}  // namespace

ORION_REGISTER_COMMAND(add_version);
