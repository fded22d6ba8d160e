// The GPU detector kinds, `torch_yolov8` and `torch_yolox` (issue 13, ADR 0074): the LibTorch
// batch detector of src/gpu (FP16, CUDA graphs, pre-processing and NMS on the GPU) behind the
// Detector interface, so that a user configures it like any model:
//     model: torch_yolov8:/models/yolov8n.pt        (TorchScript from tools/gpu/onnx_to_torch.py)
// on the CUDA device DetectorConfig::device ("cuda:N", default cuda:0). detect() runs a batch
// of one frame (host BGR24/RGB24, uploaded; or device BGR24/RGB24/NV12, read in place);
// batching across streams is the GPU worker's (gpu/batch_collector.h, `orion bench gpu`).
// Models: COCO-80 detectors (the repository's yolov8n / yolox_nano converted).
//
// Thread-safety and lifecycle: those of Detector (detector.h).
#pragma once

#include <string>

#include "infer/detector.h"

namespace orion::infer {

// family "yolov8" | "yolox". Errors: "detector.bad_config" (a non-square input size), those of
// gpu::create_batch_detector() ("gpu.unavailable" in a build without CUDA/LibTorch or on a
// machine without a GPU, "model.not_found", "model.load_failed", ...), "detector.class_names",
// "model.class_count_mismatch", "detector.unknown_class".
Result<DetectorPtr> make_torch_detector(const DetectorConfig& config, const std::string& family);

}  // namespace orion::infer
