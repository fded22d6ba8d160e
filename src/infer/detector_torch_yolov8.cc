// Kind torch_yolov8: the LibTorch GPU backend for yolov8 TorchScript models (infer/gpu_detector.h).
#include "infer/gpu_detector.h"
#include "infer/registry.h"

namespace orion::infer {
namespace {
Result<DetectorPtr> make_torch_yolov8(const DetectorConfig& config) {
  return make_torch_detector(config, "yolov8");
}
}  // namespace
}  // namespace orion::infer

ORION_REGISTER_DETECTOR(
    torch_yolov8,
    {.kind = "torch_yolov8",
     .description = "yolov8 TorchScript (tools/gpu/onnx_to_torch.py) on the GPU: "
                    "LibTorch FP16, CUDA graphs (needs a GPU build)",
     .needs_model_file = true},
    &orion::infer::make_torch_yolov8);
