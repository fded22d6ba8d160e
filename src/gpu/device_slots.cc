#include "gpu/device_slots.h"

#include <cstring>
#include <string>
#include <utility>

#if ORION_GPU_CUDA
#include <cuda_runtime_api.h>
#endif

#include "ipc/validate.h"

namespace orion::gpu {

#if !ORION_GPU_CUDA

namespace {
Error no_cuda() {
  return make_error("gpu.unavailable",
                    "device slots need a build with CUDA (nvcc not found at configure time)");
}
}  // namespace

Result<ipc::DevicePayload> allocate_device_slots(int, uint64_t) { return no_cuda(); }
Result<std::shared_ptr<ipc::ShmFramePool>> create_device_pool(ipc::ShmFramePoolOptions, int) {
  return no_cuda();
}
ipc::DeviceMapper device_mapper() {
  return [](const ipc::PoolGeometry&) -> Result<ipc::DeviceMapping> { return no_cuda(); };
}
Result<MutableFramePtr> copy_into_slot(ipc::ShmFramePool&, const Frame&) { return no_cuda(); }

#else

static_assert(sizeof(cudaIpcMemHandle_t) == ipc::kDeviceHandleBytes);

namespace {

std::string cuda_why(cudaError_t rc) {
  return std::string(cudaGetErrorName(rc)) + ": " + cudaGetErrorString(rc);
}

}  // namespace

Result<ipc::DevicePayload> allocate_device_slots(int device, uint64_t bytes) {
  if (cudaError_t rc = cudaSetDevice(device); rc != cudaSuccess)
    return make_error("gpu.unavailable",
                      "cuda:" + std::to_string(device) + " cannot be used: " + cuda_why(rc));
  void* p = nullptr;
  if (cudaError_t rc = cudaMalloc(&p, bytes); rc != cudaSuccess) {
    (void)cudaGetLastError();
    return make_error("gpu.alloc_failed", "cudaMalloc of " + std::to_string(bytes) +
                                              " bytes for device slots on cuda:" +
                                              std::to_string(device) + ": " + cuda_why(rc));
  }
  cudaIpcMemHandle_t h{};
  if (cudaError_t rc = cudaIpcGetMemHandle(&h, p); rc != cudaSuccess) {
    (void)cudaGetLastError();
    cudaFree(p);
    return make_error("gpu.alloc_failed", "cudaIpcGetMemHandle of the device slots on cuda:" +
                                              std::to_string(device) + ": " + cuda_why(rc));
  }
  ipc::DevicePayload d;
  d.device_index = device;
  d.base = static_cast<uint8_t*>(p);
  d.bytes = bytes;
  std::memcpy(d.ipc_handle.data(), &h, sizeof h);
  d.keep_alive = std::shared_ptr<void>(p, [device](void* q) {
    cudaSetDevice(device);
    cudaFree(q);
  });
  return d;
}

Result<std::shared_ptr<ipc::ShmFramePool>> create_device_pool(ipc::ShmFramePoolOptions options,
                                                              int device) {
  options.memory_kind = MemoryKind::kDevice;
  auto d = allocate_device_slots(device, ipc::ShmFramePool::device_bytes_needed(options));
  if (!d.ok()) return d.error();
  options.device = std::move(d).value();
  return ipc::ShmFramePool::create(std::move(options));
}

ipc::DeviceMapper device_mapper() {
  return [](const ipc::PoolGeometry& g) -> Result<ipc::DeviceMapping> {
    const int device = g.device_index;
    const std::string what = "pool '" + g.stream_name + "' on cuda:" + std::to_string(device);
    if (cudaError_t rc = cudaSetDevice(device); rc != cudaSuccess)
      return make_error("gpu.unavailable", what + ": the device cannot be used: " + cuda_why(rc));
    cudaIpcMemHandle_t h{};
    std::memcpy(&h, g.device_handle.data(), sizeof h);
    void* p = nullptr;
    if (cudaError_t rc = cudaIpcOpenMemHandle(&p, h, cudaIpcMemLazyEnablePeerAccess);
        rc != cudaSuccess) {
      (void)cudaGetLastError();
      return make_error("gpu.ipc_open_failed",
                        what + ": cudaIpcOpenMemHandle failed: " + cuda_why(rc));
    }
    ipc::DeviceMapping m;
    m.base = static_cast<uint8_t*>(p);
    m.holder = std::shared_ptr<void>(p, [device](void* q) {
      cudaSetDevice(device);
      cudaIpcCloseMemHandle(q);
    });
    return m;
  };
}

Result<MutableFramePtr> copy_into_slot(ipc::ShmFramePool& pool, const Frame& src) {
  const FrameLayout dst_layout = FrameLayout::packed(src.format(), src.width(), src.height());
  if (!dst_layout.valid())
    return make_error("pool.bad_layout", "frame " + std::to_string(src.identity().sequence) +
                                             " has no pixels to copy (format " +
                                             std::string(to_string(src.format())) + ")");
  auto slot = pool.acquire(dst_layout);
  if (!slot.ok()) return slot.error();
  MutableFramePtr dst = std::move(slot).value();
  const int device = pool.geometry().device_index;
  if (cudaError_t rc = cudaSetDevice(device); rc != cudaSuccess)
    return make_error("gpu.copy_failed", "cuda:" + std::to_string(device) + ": " + cuda_why(rc));
  for (int p = 0; p < dst_layout.plane_count; ++p) {
    const auto width_bytes = static_cast<size_t>(ipc::min_row_bytes(src.format(), src.width(), p));
    const auto rows = static_cast<size_t>(ipc::plane_rows(src.format(), src.height(), p));
    const cudaError_t rc =
        cudaMemcpy2DAsync(dst->mutable_plane(p), static_cast<size_t>(dst->stride(p)), src.plane(p),
                          static_cast<size_t>(src.stride(p)), width_bytes, rows, cudaMemcpyDefault,
                          cudaStreamPerThread);
    if (rc != cudaSuccess) {
      (void)cudaGetLastError();
      return make_error("gpu.copy_failed", "copying plane " + std::to_string(p) + " of frame " +
                                               std::to_string(src.identity().sequence) +
                                               " into a device slot: " + cuda_why(rc));
    }
  }
  // Complete before the token is offered: the reader's GPU work may start at once.
  if (cudaError_t rc = cudaStreamSynchronize(cudaStreamPerThread); rc != cudaSuccess) {
    (void)cudaGetLastError();
    return make_error("gpu.copy_failed", "device slot copy: " + cuda_why(rc));
  }
  dst->set_identity(src.identity());
  return dst;
}

#endif

}  // namespace orion::gpu
