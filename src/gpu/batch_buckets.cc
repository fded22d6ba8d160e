#include <algorithm>
#include <vector>

#include "gpu/batch_detector.h"

namespace orion::gpu {

std::vector<int> batch_buckets(int max_batch) {
  max_batch = std::max(max_batch, 1);
  // 1, 2, 4, 8, then every multiple of 8: a batch runs at most 7 padding frames beyond 8
  // (powers of two up to 64 wasted up to half the batch: docs/gpu.md).
  std::vector<int> b;
  for (int s = 1; s < std::min(max_batch, 8); s *= 2) b.push_back(s);
  for (int s = 8; s < max_batch; s += 8) b.push_back(s);
  b.push_back(max_batch);
  return b;
}

#if !ORION_GPU_TORCH
Result<BatchDetectorPtr> create_batch_detector(const BatchDetectorConfig& config) {
  return make_error("gpu.unavailable", "GPU detector '" + config.kind +
                                           "': this orion was built without LibTorch and CUDA "
                                           "(docs/gpu.md says how to build the GPU path)");
}
#endif

}  // namespace orion::gpu
