#include "bench/e2e_bench.h"
#include "commands.h"

namespace {

void add_bench_e2e(CLI::App& /*app*/, CLI::App& bench) {
  static orion::bench::E2eBenchOptions opts;
  auto* cmd = bench.add_subcommand(
      "e2e",
      "N streams (asset videos over RTSP on loopback) x M pipelines (yolox_nano critical, yolov8n "
      "best-effort) end to end, then a seed-style baseline (bounded queue + full frame copy over a "
      "pipe per worker) in the same run: one table with the ratios");
  cmd->add_option("--streams", opts.streams, "streams")->capture_default_str();
  cmd->add_option("--pipelines", opts.pipelines, "pipelines per stream")->capture_default_str();
  cmd->add_option("--warmup", opts.warmup_s, "seconds before measuring")->capture_default_str();
  cmd->add_option("--seconds", opts.seconds, "seconds measured (warm-up + this <= 59)")
      ->capture_default_str();
  cmd->add_option("--queue", opts.queue, "the baseline's queue per worker (frames)")
      ->capture_default_str();
  cmd->add_flag("!--no-baseline", opts.baseline, "Orion only");
  cmd->add_option("--json", opts.json_path, "also write the figures as JSON here");
  cmd->callback([] { orion::cli::exit_code = orion::bench::run_e2e_bench(opts); });

  static std::string kind, model;
  static int threads = 1;
  auto* worker = bench.add_subcommand("e2e-worker", "the e2e baseline's worker (frames on stdin)");
  worker->group("");  // internal: started by `orion bench e2e`
  worker->add_option("--kind", kind)->required();
  worker->add_option("--model", model)->required();
  worker->add_option("--threads", threads);
  worker->callback(
      [] { orion::cli::exit_code = orion::bench::run_e2e_baseline_worker(kind, model, threads); });
}

}  // namespace

ORION_REGISTER_COMMAND(add_bench_e2e);
