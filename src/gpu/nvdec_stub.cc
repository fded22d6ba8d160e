// NvdecSource where the binary was built without NVDEC support.
#include "gpu/nvdec_source.h"

namespace orion::gpu {

bool nvdec_available(int, const std::string&, std::string* why) {
  if (why) *why = "this orion was built without NVDEC support (CUDA and GStreamer's CUDA library)";
  return false;
}

Result<NvdecSourcePtr> NvdecSource::open(const NvdecOptions&, OnFrame) {
  return make_error(
      "gpu.unavailable",
      "this orion was built without NVDEC support (CUDA and GStreamer's CUDA library)");
}

}  // namespace orion::gpu
