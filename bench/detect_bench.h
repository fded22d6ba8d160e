// `orion bench detect`: what a detector costs beyond its network, and how it compares with
// Python on the same machine, measured in one run.
//
// For each model (KIND:PATH spec; default yolov8n.onnx and yolox_nano.onnx from the shared
// assets) on one image (default bus.jpg), at each thread count (default 1 and 2):
//   forward  - Detector::forward_only(): setInput + net.forward() on the prepared blob, the
//              baseline (what any caller of OpenCV DNN pays at least)
//   detect   - Detector::detect() on the frame: conversion, letterbox, blob, forward, decode,
//              NMS, boxes back to frame pixels
// `warmup` untimed detect() calls first, then `runs` timed pairs, forward and detect
// alternating so that both see the same machine load. Reports p50/p99 (nearest rank; with
// 30 runs p99 is the slowest run) and detect/forward (goal: <= 1.05).
// Goal check on the p50 of per-run ratios detect_i / forward_i of adjacent calls (robust to
// the load changing during the run); the p50 of (pre + post) / forward inside detect() is
// printed beside it.
// Python baseline: the same two measurements by Debian's python3-opencv, in a `python3 -c`
// child spawned by the bench (letterbox, blobFromImage, forward, numpy decode, class-offset
// NMSBoxes: the MANIFEST's reference method). It loads and warms up once, then runs in blocks
// of `block` runs alternating with ours, so both see the same machine load; reported as
// ours/python ratios. Skipped with a message when python3 or its cv2 module is missing.
#pragma once

#include <string>
#include <vector>

namespace orion::bench {

struct DetectBenchOptions {
  std::vector<std::string> models;  // KIND:PATH specs; empty = the shared assets' two models
  std::string image;                // empty = <assets>/bus.jpg
  std::vector<int> threads = {1, 2};
  int runs = 30;   // timed forward/detect pairs per (model, threads)
  int warmup = 3;  // untimed detect() calls before them
  int block = 5;   // ours and python alternate in blocks of this many runs
  bool python = true;
  std::string python_exe;  // empty = /usr/bin/python3 when present (Debian's), else python3
  std::string json_path;   // also write the results as JSON here
};

int run_detect_bench(const DetectBenchOptions& options);

}  // namespace orion::bench
