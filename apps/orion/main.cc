// orion: one binary, many subcommands (see `orion --help`).
//
// Process entry point: every command runs inside app.parse(), so an exception that escapes a
// command (or the setting up of the commands) is caught here, reported on stderr naming the
// command, and ends the process with kExitUncaught; it never reaches std::terminate.
#include <csignal>
#include <cstdio>
#include <exception>
#include <string>

#include "commands.h"

namespace {

constexpr int kExitUncaught = 70;  // EX_SOFTWARE (sysexits.h): an internal error

// "orion up" for the subcommand being run, "orion" before one is known.
std::string command_name(const CLI::App& app) {
  std::string name = "orion";
  for (const CLI::App* cmd = &app;;) {
    const auto subs = cmd->get_subcommands();
    if (subs.empty()) break;
    cmd = subs.front();
    name += " " + cmd->get_name();
  }
  return name;
}

}  // namespace

int main(int argc, char** argv) {
  std::signal(SIGPIPE, SIG_IGN);  // a closed socket or pipe is an error return, not a death
  CLI::App app{"Orion: real-time AI on live video"};
  try {
    app.require_subcommand(1);
    CLI::App* bench =
        app.add_subcommand("bench", "Benchmarks, each against its baselines in the same run");
    bench->require_subcommand(1);
    for (auto r : orion::cli::registrars()) r(app, *bench);
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "%s: internal error (uncaught exception): %s\n", command_name(app).c_str(),
                 e.what());
    return kExitUncaught;
  } catch (...) {
    std::fprintf(stderr, "%s: internal error (uncaught non-standard exception)\n",
                 command_name(app).c_str());
    return kExitUncaught;
  }
  return orion::cli::exit_code;
}
