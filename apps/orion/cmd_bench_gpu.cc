// orion bench gpu: NVDEC decode + cross-stream batched GPU detection, N streams, against the
// decode-only ceiling of the same run (src/gpu/bench_gpu.h, docs/gpu.md).
#include <cstdio>

#include "commands.h"
#include "gpu/bench_gpu.h"
#include "gpu/decode_procs.h"
#include "gpu/device.h"

namespace {

void add_bench_gpu(CLI::App& /*app*/, CLI::App& bench) {
  static orion::gpu::BenchGpuOptions opts;
  static std::string model;
  auto* cmd = bench.add_subcommand(
      "gpu",
      "GPU path: N streams NVDEC-decoded into device memory, batched yolov8n/yolox on the "
      "GPU, vs the NVDEC decode-only ceiling (needs a GPU build; docs/gpu.md)");
  cmd->add_option("--clip", opts.clip, "H.264 MP4 clip (tools/gpu/make_clip.sh)")->required();
  cmd->add_option("--model", model,
                  "KIND:PATH, KIND yolov8|yolox, PATH a TorchScript file from "
                  "tools/gpu/onnx_to_torch.py")
      ->required();
  cmd->add_option("--device", opts.device, "CUDA device, cuda:N")->capture_default_str();
  cmd->add_option("--streams", opts.streams, "stream counts to measure")
      ->capture_default_str()
      ->delimiter(',');
  cmd->add_option("--seconds", opts.seconds, "measured seconds per stream count")
      ->capture_default_str();
  cmd->add_option("--settle", opts.settle, "seconds before measuring")->capture_default_str();
  cmd->add_option("--decode-seconds", opts.decode_seconds, "decode-only ceiling: seconds")
      ->capture_default_str();
  cmd->add_option("--decode-streams", opts.decode_streams,
                  "decode-only ceiling: decoder counts to try, the best is the ceiling (default: "
                  "the largest stream count)")
      ->delimiter(',');
  cmd->add_flag("!--no-ceiling-per-n", opts.ceiling_per_n,
                "skip the decode-only run with exactly N decoders beside each stream count");
  cmd->add_option("--max-batch", opts.max_batch, "frames per GPU batch at most")
      ->capture_default_str();
  cmd->add_option("--max-wait-ms", opts.max_wait_ms, "bounded wait for a fuller batch")
      ->capture_default_str();
  cmd->add_option("--fps", opts.fps, "the clip's frame rate (real time per stream)")
      ->capture_default_str();
  cmd->add_flag("!--fp32", opts.half, "FP32 instead of FP16");
  cmd->add_flag("!--no-cuda-graphs", opts.cuda_graphs, "run the network eagerly");
  cmd->add_flag("!--no-channels-last", opts.channels_last, "keep weights and input NCHW");
  cmd->add_option("--json", opts.json_path, "also write the figures as JSON to this file");
  cmd->add_option("--decode-procs", opts.decode_procs,
                  "run the decoders in this many child processes, feeding this one (the GPU "
                  "worker) through device slots with CUDA IPC handles; 0 = in this process")
      ->capture_default_str();
  cmd->add_option("--slots", opts.slots, "device slots per stream with --decode-procs (>= 3)")
      ->capture_default_str();
  cmd->add_option("--decode-ahead", opts.decode_ahead,
                  "decoded pictures that may wait between each decoder and its paced sink (a "
                  "queue: the decoder works ahead of the clock); 0 = none")
      ->capture_default_str();
  cmd->add_flag("--one-pipeline", opts.one_pipeline,
                "in-process decoders: all streams in one GStreamer pipeline (a branch each) "
                "instead of a pipeline per stream; keep a run shorter than the clip");
  cmd->add_flag(
      "--ceiling-count-only", opts.ceiling_count_only,
      "decode-only ceilings: a fakesink in place of the appsink, pictures counted, never mapped");
  cmd->add_flag("--ceilings-first", opts.ceilings_first,
                "measure the decode-only ceilings before loading the detector");
  cmd->add_flag("--ceiling-gstreamer-context", opts.ceiling_gstreamer_context,
                "decode-only ceilings with GStreamer's own CUDA context instead of Orion's");
  cmd->add_flag("--pace-input", opts.pace_input,
                "pace the decoder's input instead of its output (experimental: on the H200 it let "
                "~37.5 frames per second through for a 30 fps clip, docs/gpu.md)");
  cmd->callback([] {
    const auto colon = model.find(':');
    if (colon == std::string::npos || colon == 0 || colon + 1 == model.size()) {
      std::fprintf(stderr,
                   "orion bench gpu: --model '%s' is not KIND:PATH (e.g. yolov8:yolov8n.pt)\n",
                   model.c_str());
      orion::cli::exit_code = 2;
      return;
    }
    opts.model_kind = model.substr(0, colon);
    opts.model_path = model.substr(colon + 1);
    auto st = orion::gpu::run_bench_gpu(opts);
    if (!st) {
      std::fprintf(stderr, "orion bench gpu: %s\n", st.error().to_string().c_str());
      orion::cli::exit_code = 1;
    }
  });
}

// The decoder child of `orion bench gpu --decode-procs` (gpu/decode_procs.h); not for users.
void add_bench_gpu_decoder(CLI::App& /*app*/, CLI::App& bench) {
  static orion::gpu::DecoderChildOptions opts;
  static std::string device = "cuda:0";
  static bool no_realtime = false;
  auto* cmd = bench.add_subcommand("gpu-decoder",
                                   "decoder child process of `orion bench gpu --decode-procs`");
  cmd->group("");  // hidden from --help
  cmd->add_option("--clip", opts.clip)->required();
  cmd->add_option("--device", device);
  cmd->add_option("--first-stream", opts.first_stream);
  cmd->add_option("--count", opts.count);
  cmd->add_option("--slots", opts.slots);
  cmd->add_option("--slot-bytes", opts.slot_bytes);
  cmd->add_option("--socket-fd", opts.socket_fd);
  cmd->add_flag("--decode-only", opts.decode_only);
  cmd->add_flag("--no-realtime", no_realtime);
  cmd->add_flag("--pace-input", opts.pace_input);
  cmd->add_option("--decode-ahead", opts.decode_ahead);
  cmd->callback([] {
    opts.realtime = !no_realtime;
    auto d = orion::gpu::parse_device(device);
    if (!d) {
      std::fprintf(stderr, "orion bench gpu-decoder: %s\n", d.error().to_string().c_str());
      orion::cli::exit_code = 2;
      return;
    }
    opts.device = d->index;
    orion::cli::exit_code = orion::gpu::run_decoder_child(opts);
  });
}

}  // namespace

ORION_REGISTER_COMMAND(add_bench_gpu);
ORION_REGISTER_COMMAND(add_bench_gpu_decoder);
