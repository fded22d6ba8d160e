// Kind torch_yolox: the LibTorch GPU backend for yolox TorchScript models (infer/gpu_detector.h).
#include "infer/gpu_detector.h"
#include "infer/registry.h"

namespace orion::infer {
namespace {
Result<DetectorPtr> make_torch_yolox(const DetectorConfig& config) {
  return make_torch_detector(config, "yolox");
}
}  // namespace
}  // namespace orion::infer

ORION_REGISTER_DETECTOR(
    torch_yolox,
    {.kind = "torch_yolox",
     .description = "yolox TorchScript (tools/gpu/onnx_to_torch.py) on the GPU: "
                    "LibTorch FP16, CUDA graphs (needs a GPU build)",
     .needs_model_file = true},
    &orion::infer::make_torch_yolox);
