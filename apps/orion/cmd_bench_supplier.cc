#include "bench/supplier_bench.h"
#include "commands.h"

namespace {

void add_bench_supplier(CLI::App& /*app*/, CLI::App& bench) {
  static orion::bench::SupplierBenchOptions opts;
  auto* cmd = bench.add_subcommand("supplier", "FrameSupplier: publish cost, distribution, wake "
                                               "latency vs queue / thread-per-frame / deep-copy baselines");
  cmd->add_option("--frames", opts.frames, "frames published per measurement")->capture_default_str();
  cmd->add_option("--subscribers", opts.subscriber_counts, "subscriber counts to measure")
      ->capture_default_str();
  cmd->add_option("--threshold", opts.sequential_threshold, "sequential wake threshold")
      ->capture_default_str();
  cmd->add_option("--notifiers", opts.notifier_threads, "notifier threads")->capture_default_str();
  cmd->add_option("--json", opts.json_path, "also write results as JSON to this file");
  cmd->callback([] { orion::cli::exit_code = orion::bench::run_supplier_bench(opts); });
}

}  // namespace

ORION_REGISTER_COMMAND(add_bench_supplier);
