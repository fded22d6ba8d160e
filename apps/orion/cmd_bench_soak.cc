#include "bench/soak_bench.h"
#include "commands.h"

namespace {

void add_bench_soak(CLI::App& /*app*/, CLI::App& bench) {
  static orion::bench::SoakBenchOptions opts;
  auto* cmd = bench.add_subcommand(
      "soak",
      "the whole system for M minutes under faults (workers SIGKILLed, a camera cut every "
      "minute, API writes) judging itself: fps, RSS, p99 latency, writes, orphans, shm, fds; "
      "exit code 0 = pass");
  cmd->add_option("--minutes", opts.minutes, "length of the run")->capture_default_str();
  cmd->add_option("--streams", opts.streams, "cameras (one pipeline each)")->capture_default_str();
  cmd->add_option("--width", opts.width, "camera width")->capture_default_str();
  cmd->add_option("--height", opts.height, "camera height")->capture_default_str();
  cmd->add_option("--fps", opts.fps, "camera frame rate")->capture_default_str();
  cmd->add_option("--kill-every", opts.kill_every_s, "seconds between worker SIGKILLs (± half)")
      ->capture_default_str();
  cmd->add_option("--cut-every", opts.cut_every_s, "seconds between camera cuts")
      ->capture_default_str();
  cmd->add_option("--cut-for", opts.cut_for_s, "seconds a cut lasts")->capture_default_str();
  cmd->add_option("--write-every", opts.write_every_s, "seconds between API writes")
      ->capture_default_str();
  cmd->add_option("--model", opts.model,
                  "yolox ONNX file (default: the assets' yolox_nano, else fake)");
  cmd->add_option("--seed", opts.seed, "random seed (0: random)");
  cmd->add_option("--json", opts.json_path, "also write the figures and verdict as JSON here");
  cmd->add_flag(
      "--require-model", opts.require_model,
      "without yolox_nano in the assets: skip (exit 77), or fail under CI=true, instead of "
      "using the fake detector");
  cmd->callback([] { orion::cli::exit_code = orion::bench::run_soak_bench(opts); });

  static int count = 2, width = 320, height = 240, fps = 15;
  auto* cams = bench.add_subcommand("soak-cameras", "the soak's cameras (commands on stdin)");
  cams->group("");  // internal: started by `orion bench soak`
  cams->add_option("--count", count);
  cams->add_option("--width", width);
  cams->add_option("--height", height);
  cams->add_option("--fps", fps);
  cams->callback(
      [] { orion::cli::exit_code = orion::bench::run_soak_cameras(count, width, height, fps); });

  static orion::bench::ReconnectProbeOptions probe;
  auto* rec = bench.add_subcommand(
      "soak-reconnect",
      "the soak's camera cut alone on one capture: RSS and heap (in use / held / after "
      "malloc_trim) after each reconnect");
  rec->add_option("--cycles", probe.cycles, "camera cuts")->capture_default_str();
  rec->add_option("--cut-for", probe.cut_s, "seconds a cut lasts")->capture_default_str();
  rec->add_option("--live-for", probe.live_s, "seconds live after each reconnect")
      ->capture_default_str();
  rec->add_option("--width", probe.width)->capture_default_str();
  rec->add_option("--height", probe.height)->capture_default_str();
  rec->add_option("--fps", probe.fps)->capture_default_str();
  rec->add_flag("!--no-trim", probe.trim, "do not call malloc_trim(0) after each line");
  rec->callback([] { orion::cli::exit_code = orion::bench::run_soak_reconnect(probe); });
}

}  // namespace

ORION_REGISTER_COMMAND(add_bench_soak);
