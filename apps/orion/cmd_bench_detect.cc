#include "bench/detect_bench.h"
#include "commands.h"

namespace {

void add_bench_detect(CLI::App& /*app*/, CLI::App& bench) {
  static orion::bench::DetectBenchOptions opts;
  auto* cmd = bench.add_subcommand(
      "detect",
      "Detectors: forward() alone vs the whole detect(), 1 and 2 threads, beside "
      "Debian python3-opencv doing the same");
  cmd->add_option("--model,-m", opts.models,
                  "model specs KIND:PATH (default: yolov8n.onnx and yolox_nano.onnx from the "
                  "shared assets)");
  cmd->add_option("--image", opts.image, "image (default: bus.jpg from the shared assets)");
  cmd->add_option("--threads", opts.threads, "thread counts to measure")->capture_default_str();
  cmd->add_option("--runs", opts.runs, "timed forward/detect pairs per case")
      ->capture_default_str();
  cmd->add_option("--warmup", opts.warmup, "untimed detect() calls first")->capture_default_str();
  cmd->add_option("--block", opts.block, "ours and python alternate in blocks of this many runs")
      ->capture_default_str();
  cmd->add_flag("!--no-python", opts.python, "skip the python3-opencv baseline");
  cmd->add_option("--python", opts.python_exe, "python interpreter (default /usr/bin/python3)");
  cmd->add_option("--json", opts.json_path, "also write results as JSON to this file");
  cmd->callback([] { orion::cli::exit_code = orion::bench::run_detect_bench(opts); });
}

}  // namespace

ORION_REGISTER_COMMAND(add_bench_detect);
