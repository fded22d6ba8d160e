// `orion bench gpu` (issue 13): N streams of an H.264 clip decoded by NVDEC into device memory,
// batched across streams (BatchCollector) into one GPU detector (BatchDetector), for a fixed
// time; in the same run the NVDEC decode-only ceiling. Prints, per N: streams held at real time,
// total analysed fps vs the decode-only ceiling, frame age at inference p50/p99, GPU memory
// per stream and CPU per stream. docs/gpu.md "orion bench gpu" says how to run it. With
// decode_procs the decoders run in child processes and feed this one through device slots.
//
// Thread-safety: run_bench_gpu() is a blocking call for one thread (a CLI command).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "core/result.h"

namespace orion::gpu {

struct BenchGpuOptions {
  std::string clip;  // H.264 MP4 (tools/gpu/make_clip.sh makes a 1080p30 one)
  std::string model_kind = "yolov8";
  std::string model_path;  // TorchScript from tools/gpu/onnx_to_torch.py
  std::string device = "cuda:0";
  std::vector<int> streams{4, 8, 16};
  double seconds = 10;  // measured time per N (after a settle of `settle` s)
  double settle = 2;
  double decode_seconds = 5;  // decode-only ceiling: time
  // Decode-only ceiling: decoder counts to try (empty = the largest N); the ceiling is the best.
  std::vector<int> decode_streams;
  // Also the decode-only rate with exactly N decoders, beside each N's run (column vs_same_n):
  // whether inference keeps up with what NVDEC gives that many sessions.
  bool ceiling_per_n = true;
  int max_batch = 64;
  double max_wait_ms = 5;   // BatchCollector bounded wait
  double fps = 30;          // the clip's nominal rate (real time = fps per stream)
  double held_ratio = 0.9;  // a stream is held when analysed fps >= ratio × fps
  bool half = true;
  bool cuda_graphs = true;
  bool channels_last = true;  // BatchDetectorConfig::channels_last
  std::string json_path;  // also write the figures as JSON here
  // 0: every decoder in this process (frames handed over in process). P >= 1: the decoders in
  // P child processes (gpu/decode_procs.h), frames through device slots with CUDA IPC handles
  // into this process, the GPU worker; the decode-only ceiling then runs in P processes too.
  int decode_procs = 0;
  uint32_t slots = 4;  // device slots per stream (decode_procs >= 1)
  // Real time kept at the decoder's input (a camera's pace) instead of at its output
  // (NvdecOptions::pace_input). Experimental: on the H200 it let ~25 % more frames through
  // than the clip's rate (docs/gpu.md), so it is not yet a model of a camera.
  bool pace_input = false;
  int decode_ahead = 0;  // NvdecOptions::decode_ahead (output pacing)
  // In-process decoders: all streams' decoders in one GStreamer pipeline (NvdecOptions::branches)
  // instead of one pipeline per stream. A run must then be shorter than the clip, or a looping
  // stream waits at end of file for the slowest.
  bool one_pipeline = false;
  // Decode-only ceilings with GStreamer's own CUDA context (NvdecOptions::gstreamer_context)
  // instead of Orion's; the analysed runs always use Orion's.
  bool ceiling_gstreamer_context = false;
  // Decode-only ceilings: pictures counted and dropped unmapped (NvdecOptions::count_only).
  bool ceiling_count_only = false;
  // Decode-only ceilings measured before the detector is loaded (default: after).
  bool ceilings_first = false;
};

// Runs the benchmark and prints its table on stdout. Errors: "gpu.unavailable",
// "bench.bad_option", and the errors of create_batch_detector() / NvdecSource::open().
Status run_bench_gpu(const BenchGpuOptions& options);

}  // namespace orion::gpu
