#include "bench/ingest_bench.h"
#include "commands.h"

namespace {

void add_bench_ingest(CLI::App& /*app*/, CLI::App& bench) {
  static orion::bench::IngestBenchOptions opts;
  auto* cmd = bench.add_subcommand("ingest", "Max real-time streams (file, output on) vs the raw decoder limit; "
                                             "per-frame engine latency from frame identity");
  cmd->add_option("--file", opts.file, "video file (default: ../shared/assets/vtest_480x360.mp4)");
  cmd->add_option("--warmup", opts.warmup_s, "seconds of warm-up per trial")->capture_default_str();
  cmd->add_option("--duration", opts.duration_s, "measured seconds per trial")->capture_default_str();
  cmd->add_option("--max-streams", opts.max_streams, "upper bound of the search")->capture_default_str();
  cmd->add_option("--tolerance", opts.tolerance, "allowed fps shortfall (0.05 = 5%)")->capture_default_str();
  cmd->add_option("--json", opts.json_path, "also write results as JSON to this file");
  cmd->callback([] { orion::cli::exit_code = orion::bench::run_ingest_bench(opts); });
}

}  // namespace

ORION_REGISTER_COMMAND(add_bench_ingest);
