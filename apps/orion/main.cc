// orion: one binary, many subcommands (see `orion --help`).
#include <csignal>
#include <cstdio>
#include <exception>

#include "commands.h"

int main(int argc, char** argv) {
  std::signal(SIGPIPE, SIG_IGN);  // a closed socket or pipe is an error return, not a death
  CLI::App app{"Orion: real-time AI on live video"};
  app.require_subcommand(1);
  CLI::App* bench = app.add_subcommand("bench", "Benchmarks, each against its baselines in the same run");
  bench->require_subcommand(1);
  for (auto r : orion::cli::registrars()) r(app, *bench);

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
