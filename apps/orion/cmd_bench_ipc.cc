#include "bench/ipc_bench.h"
#include "commands.h"

namespace {

void add_bench_ipc(CLI::App& /*app*/, CLI::App& bench) {
  static orion::bench::IpcBenchOptions opts;
  auto* cmd =
      bench.add_subcommand("ipc",
                           "Shared-memory frames to worker processes: publish -> worker woken "
                           "holding the frame, vs a pipe baseline");
  cmd->add_option("--frames", opts.frames, "frames per case")->capture_default_str();
  cmd->add_option("--workers", opts.worker_counts, "worker process counts to measure")
      ->capture_default_str();
  cmd->add_option("--width", opts.width, "frame width")->capture_default_str();
  cmd->add_option("--height", opts.height, "frame height")->capture_default_str();
  cmd->add_option("--interval-us", opts.interval_us, "pause between frames")->capture_default_str();
  cmd->add_option("--worker-nice", opts.worker_nice, "nice value of the worker processes")
      ->capture_default_str();
  cmd->add_option("--json", opts.json_path, "also write results as JSON to this file");
  cmd->callback([] { orion::cli::exit_code = orion::bench::run_ipc_bench(opts); });
}

}  // namespace

ORION_REGISTER_COMMAND(add_bench_ipc);
