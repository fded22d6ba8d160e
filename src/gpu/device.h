// GPU device selection for the GPU path (issue 13): which CUDA device a pipeline or an engine
// runs on, written "cuda:N" (or "cuda" = "cuda:0") in configs and on the command line.
//
// Thread-safety: pure functions and value types; device_count() may be called from any thread.
#pragma once

#include <string>
#include <string_view>

#include "core/result.h"

namespace orion::gpu {

struct DeviceSpec {
  int index = 0;  // CUDA device ordinal
  std::string to_string() const { return "cuda:" + std::to_string(index); }
  bool operator==(const DeviceSpec&) const = default;
};

// "cuda" or "cuda:N" (N a non-negative decimal ordinal). Error "gpu.bad_device" names the text
// and the expected form.
Result<DeviceSpec> parse_device(std::string_view text);

// Number of CUDA devices this process sees. Errors: "gpu.unavailable" when the binary was built
// without CUDA, or the CUDA runtime finds no device (the message carries CUDA's reason).
Result<int> device_count();

// parse_device() and then a check that the ordinal exists (device_count()). Error
// "gpu.no_such_device" names the ordinal and how many devices there are.
Result<DeviceSpec> resolve_device(std::string_view text);

// True when this binary was built with the CUDA kernels / the LibTorch backend / NVDEC.
bool built_with_cuda();
bool built_with_torch();
bool built_with_nvdec();

}  // namespace orion::gpu
