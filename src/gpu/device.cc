#include "gpu/device.h"

#include "core/device.h"

#if ORION_GPU_CUDA
#include <cuda_runtime_api.h>
#endif

namespace orion::gpu {

// The grammar is core/device.h's (one for every door that takes a device); here only its CUDA
// devices are accepted.
Result<DeviceSpec> parse_device(std::string_view text) {
  auto d = parse_inference_device(text);
  if (!d || d->is_cpu()) {
    return make_error("gpu.bad_device", "device '" + std::string(text).substr(0, 64) +
                                            "' is not a CUDA device: expected 'cuda' or 'cuda:N' "
                                            "(N = 0, 1, ...)");
  }
  return DeviceSpec{d->index};
}

Result<int> device_count() {
#if ORION_GPU_CUDA
  int n = 0;
  const cudaError_t rc = cudaGetDeviceCount(&n);
  if (rc != cudaSuccess) {
    return make_error("gpu.unavailable", std::string("no CUDA device: ") + cudaGetErrorString(rc));
  }
  if (n <= 0) return make_error("gpu.unavailable", "no CUDA device: the runtime found none");
  return n;
#else
  return make_error("gpu.unavailable",
                    "this orion was built without CUDA (nvcc not found at configure time)");
#endif
}

Result<DeviceSpec> resolve_device(std::string_view text) {
  auto spec = parse_device(text);
  if (!spec) return spec.error();
  auto n = device_count();
  if (!n) return n.error();
  if (spec->index >= *n) {
    return make_error("gpu.no_such_device", "device " + spec->to_string() + " does not exist: " +
                                                std::to_string(*n) + " CUDA device(s) found");
  }
  return spec;
}

bool built_with_cuda() { return ORION_GPU_CUDA != 0; }
bool built_with_torch() { return ORION_GPU_TORCH != 0; }
bool built_with_nvdec() { return ORION_GPU_NVDEC != 0; }

}  // namespace orion::gpu
