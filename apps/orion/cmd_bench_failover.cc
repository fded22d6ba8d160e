#include "bench/failover_bench.h"
#include "commands.h"

namespace {

void add_bench_failover(CLI::App& /*app*/, CLI::App& bench) {
  static orion::bench::FailoverBenchOptions opts;
  auto* cmd = bench.add_subcommand(
      "failover",
      "Scale-out: SIGKILL the engine serving a stream N times (3 engines on a throwaway "
      "PostgreSQL): kill -> output back p50/max; then the handover gap when a 4th engine joins");
  cmd->add_option("--kills", opts.kills, "engine kills measured")->capture_default_str();
  cmd->add_option("--streams", opts.streams, "test streams (160x120)")->capture_default_str();
  cmd->add_option("--fps", opts.fps, "frames per second of each stream")->capture_default_str();
  cmd->add_option("--lease", opts.lease_s, "--lease-seconds of the engines")->capture_default_str();
  cmd->add_option("--json", opts.json_path, "also write results as JSON to this file");
  cmd->callback([] { orion::cli::exit_code = orion::bench::run_failover_bench(opts); });
}

}  // namespace

ORION_REGISTER_COMMAND(add_bench_failover);
