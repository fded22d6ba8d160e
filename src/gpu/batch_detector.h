// BatchDetector: a GPU object detector that runs one batch of frames (one frame of each of
// several streams, see batch_collector.h) per call. Backend: LibTorch (torch_detector.cc),
// FP16 by default, one CUDA graph per batch size bucket, pre-processing (BGR/RGB/NV12 ->
// letterboxed, normalised planes) and class-wise NMS on the GPU (kernels.h).
//
// Models: TorchScript files made from the repository's ONNX detectors by
// tools/gpu/onnx_to_torch.py (yolov8n.onnx, yolox_nano.onnx; docs/gpu.md). Pre- and
// post-processing follow the CPU backend's rules (src/infer: letterbox, channel order, scale,
// decode, NMS), so the detections match it (docs/gpu.md "Accuracy").
//
// Lifecycle: create_batch_detector() loads the model onto its device and checks its output
// shape; warm_up() captures the CUDA graphs of every bucket (otherwise the first batch of each
// size captures its own, ~tens of ms); detect_batch() any number of times; destruction frees
// the device memory. Thread-safety: thread-compatible (one thread at a time; a worker thread
// owns it). Ownership: detect_batch() reads the frames during the call only.
#pragma once

#include <memory>
#include <span>
#include <string>
#include <vector>

#include "core/detection.h"
#include "core/frame.h"
#include "core/result.h"
#include "core/time.h"

namespace orion::gpu {

struct BatchDetectorConfig {
  std::string kind;        // "yolov8" | "yolox"
  std::string model_path;  // TorchScript (.pt) made by tools/gpu/onnx_to_torch.py
  std::string device = "cuda:0";
  int input_size = 0;  // square network input; 0 = the kind's (yolov8 640, yolox 416)
  int max_batch = 64;  // frames per detect_batch() at most
  float score_threshold = 0.25f;
  float iou_threshold = 0.45f;
  int max_detections = 300;              // per frame
  bool half = true;                      // FP16 network and input (else FP32)
  bool cuda_graphs = true;               // replay one captured graph per batch bucket (else eager)
  // 4-D weights and the network input in NHWC (cuDNN's tensor-core layout): yolov8n FP16 ran
  // 1.14-1.16x faster at batch 16-64 on an H200 (tools/gpu/probe_layout.py, docs/gpu.md).
  // FP16 only (ignored with half = false: FP32 + NHWC failed the accuracy test there).
  bool channels_last = true;
  std::vector<std::string> class_names;  // index = class id; empty = "class_<id>"
};

struct BatchTimings {
  int batch = 0;                              // frames in the last batch
  int bucket = 0;                             // batch size the network ran (next bucket >= batch)
  Duration preprocess, forward, postprocess;  // GPU time of each stage (CUDA events)
  Duration total;                             // host wall time of detect_batch()
};

class BatchDetector {
 public:
  virtual ~BatchDetector() = default;
  BatchDetector(const BatchDetector&) = delete;
  BatchDetector& operator=(const BatchDetector&) = delete;

  // Captures (or runs once, without graphs) every bucket up to max_batch.
  virtual Status warm_up() = 0;

  // Detections of each frame (same order), boxes in the frame's pixels, sorted by score.
  // Frames: BGR24/RGB24 in host memory (uploaded), BGR24/RGB24/NV12 in device memory of this
  // detector's device (read in place). Errors: "detector.unsupported_frame" (format, memory
  // kind or empty frame, naming it), "detector.batch_too_large", "detector.inference_failed".
  virtual Result<std::vector<std::vector<Detection>>> detect_batch(
      std::span<const FramePtr> frames) = 0;

  virtual BatchTimings last_timings() const = 0;
  // Candidates above the score threshold that did not fit the NMS capacity (4096 per frame).
  virtual uint64_t candidates_dropped() const = 0;

 protected:
  BatchDetector() = default;
};

using BatchDetectorPtr = std::unique_ptr<BatchDetector>;

// Errors: "gpu.unavailable" (built without LibTorch/CUDA, or no device), "gpu.bad_device",
// "gpu.no_such_device", "detector.unknown_kind", "model.not_found", "model.load_failed"
// (LibTorch's message), "model.output_shape" (the shape does not fit the kind).
Result<BatchDetectorPtr> create_batch_detector(const BatchDetectorConfig& config);

// Batch sizes the detector captures graphs for: 1, 2, 4, then multiples of 8, and max_batch.
std::vector<int> batch_buckets(int max_batch);

}  // namespace orion::gpu
