// orion: one binary, many subcommands (see `orion --help`).
#include <cstdio>
#include <exception>

#include "commands.h"

int main(int argc, char** argv) {
  CLI::App app{"Orion: real-time AI on live video"};
  app.require_subcommand(1);
  CLI::App* bench = app.add_subcommand("bench", "Benchmarks, each against its baselines in the same run");
  bench->require_subcommand(1);

  orion::cli::add_version_command(app);
  orion::cli::add_bench_supplier_command(*bench);

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "orion: %s\n", e.what());
    return 1;
  }
  return orion::cli::exit_code;
}
