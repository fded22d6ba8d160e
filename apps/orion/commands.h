// Subcommands of the `orion` binary. Each module's command lives in its own cmd_*.cc file and
// registers itself here with one add_*() line in main.cc; a command's callback stores its exit
// code in `exit_code`.
#pragma once

#include <CLI/CLI.hpp>

namespace orion::cli {

inline int exit_code = 0;

void add_version_command(CLI::App& app);
void add_bench_supplier_command(CLI::App& bench);

}  // namespace orion::cli
