#include "bench/live_bench.h"
#include "commands.h"

namespace {

void add_bench_live(CLI::App& /*app*/, CLI::App& bench) {
  static orion::bench::LiveBenchOptions opts;
  auto* cmd =
      bench.add_subcommand("live",
                           "live view: the engine's extra CPU per WebSocket viewer of one stream "
                           "(baseline: 0 viewers, same run)");
  cmd->add_option("--viewers", opts.viewers, "viewer counts to measure")
      ->delimiter(',')
      ->capture_default_str();
  cmd->add_option("--seconds", opts.seconds, "measured window per count")->capture_default_str();
  cmd->add_option("--width", opts.width, "picture width")->capture_default_str();
  cmd->add_option("--height", opts.height, "picture height")->capture_default_str();
  cmd->add_option("--json", opts.json_path, "also write results as JSON to this file");
  cmd->callback([] { orion::cli::exit_code = orion::bench::run_live_bench(opts); });
}

}  // namespace

ORION_REGISTER_COMMAND(add_bench_live);
