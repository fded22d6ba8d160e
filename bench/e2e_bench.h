// `orion bench e2e`: N streams × M pipelines end to end, then the same load through a baseline
// built like the seeds' design, in one run, with the Orion/baseline ratios.
//
// Sources: the asset videos (vtest_480x360.mp4, one-by-one-person-detection.mp4, alternating;
// 10 fps) served over RTSP on loopback by the project's own test source
// (media/testing/rtsp_fixtures.h), a fresh session per phase (the files last 79 s and 139 s:
// warm-up + measured time must stay below 79 s).
// Pipelines per stream: j = 0, 1, ... alternate yolox_nano (critical) and yolov8n
// (best-effort), one inference thread each.
//
// Orion phase: the Engine in this process (capture → shared-memory pool → single-slot mailboxes
// → `orion worker` processes; compositor → x264 → RTSP server). After `warmup_s`, for
// `seconds`: per stream input fps (frames published) and output fps (frames handed to the
// encoder); per pipeline offered / taken / dropped, frame age at inference p50/p99, result age
// when drawn p50/p99 (the engine's histograms, engine/latency_book.h, differenced over the
// window: bucket upper bounds); engine-added output latency p50/p99/max (every frame's
// decoded → handed, exact: Engine::latencies()); CPU % (of one core) and RSS of every process.
// Baseline phase ("seed"): the same captures (media::Capture into a FrameSupplier), then per
// worker a bounded queue of `queue` frames (a new frame is dropped when it is full) and a
// writer thread copying every frame whole (BGR) over a pipe to a child process
// (`orion bench e2e-worker`) that runs the same detector and reports when it started and
// ended each frame. It has no output path: its output latency is not measured.
//
// Thread-safety: run on the calling thread (plus the threads it starts).
#pragma once

#include <string>

namespace orion::bench {

struct E2eBenchOptions {
  int streams = 2;
  int pipelines = 2;  // per stream
  double warmup_s = 10;
  double seconds = 30;
  size_t queue = 8;  // the baseline's bounded queue per worker
  bool baseline = true;
  std::string json_path;
};

int run_e2e_bench(const E2eBenchOptions& options);

// The baseline's worker: reads frames from stdin (header + BGR pixels), detects, writes
// "sequence capture_ns start_ns end_ns detections" lines to stdout; exits at end of input.
int run_e2e_baseline_worker(const std::string& kind, const std::string& model_path, int threads);

}  // namespace orion::bench
