#include "bench/relay_bench.h"
#include "commands.h"

namespace {

void add_bench_relay(CLI::App& /*app*/, CLI::App& bench) {
  static orion::bench::RelayBenchOptions opts;
  auto* cmd = bench.add_subcommand(
      "relay",
      "Glass-to-glass latency (per frame, from a code in the pixels), CPU and fps of `orion up` "
      "against a plain GStreamer decode -> x264 -> RTSP relay of the same source, alternating "
      "runs");
  cmd->add_option("--width", opts.width, "source width")->capture_default_str();
  cmd->add_option("--height", opts.height, "source height")->capture_default_str();
  cmd->add_option("--fps", opts.fps, "source frame rate")->capture_default_str();
  cmd->add_option("--runs", opts.runs, "runs per system (alternating)")->capture_default_str();
  cmd->add_option("--warmup", opts.warmup_s, "seconds of warm-up per run")->capture_default_str();
  cmd->add_option("--duration", opts.duration_s, "measured seconds per run")->capture_default_str();
  cmd->add_option("--json", opts.json_path, "also write the medians as JSON to this file");
  cmd->add_option("--client-latency", opts.client_latency_ms,
                  "measuring client's rtspsrc latency, ms")
      ->capture_default_str();
  cmd->add_option("--relay-latency", opts.relay_latency_ms,
                  "relay's rtspsrc latency, ms (0: its lowest; Orion's capture uses 100)")
      ->capture_default_str();
  // Internal: the relay child process the bench starts.
  cmd->add_option("--serve-relay", opts.serve_relay_url,
                  "(internal) serve a plain relay of this RTSP url")
      ->group("");
  cmd->add_option("--relay-port", opts.relay_port, "(internal) port of the relay")->group("");
  cmd->add_option("--bitrate", opts.bitrate_kbps, "(internal) relay x264enc bitrate, kbit/s")
      ->group("");
  cmd->add_option("--key-int", opts.key_int_max, "(internal) relay x264enc key-int-max")->group("");
  cmd->callback([] {
    orion::cli::exit_code = opts.serve_relay_url.empty() ? orion::bench::run_relay_bench(opts)
                                                         : orion::bench::serve_relay(opts);
  });
}

}  // namespace

ORION_REGISTER_COMMAND(add_bench_relay);
