// Device slots: frames resident on the GPU across processes (issue 13, ADR 0074). The engine
// side allocates one device allocation per stream pool, once, and names it by a CUDA IPC handle
// in the pool's shared-memory header (ipc/layout.h: memory_kind 1); the worker side opens that
// handle once and reads every frame in place on the GPU, never through host memory.
//
//   engine  create_device_pool() ─► ShmFramePool (kDevice) whose acquire() hands out device
//           slots; copy_into_slot() fills one from a decoded frame (device to device);
//           publish() offers its token to the workers' mailboxes, exactly as for host pools
//   worker  ipc::FrameReader::open(pool_fd, mailbox_fd, device_mapper(device))
//           ─► frames of MemoryKind::kDevice pointing into the opened allocation
//
// CUDA is reached through the runtime (cudart), like the rest of this module; built without
// CUDA every function answers "gpu.unavailable". The allocation is freed when the pool and
// every frame of it are gone (DevicePayload::keep_alive); the opened mapping is closed when the
// reader and every frame it handed out are gone.
//
// Thread-safety: every function may be called from any thread; copy_into_slot() uses the
// calling thread's default stream (cudaStreamPerThread) and returns once the copy is complete.
#pragma once

#include <cstdint>
#include <memory>

#include "core/frame.h"
#include "core/result.h"
#include "ipc/frame_reader.h"
#include "ipc/shm_frame_pool.h"

namespace orion::gpu {

// cudaMalloc(bytes) on `device` and its IPC handle. Errors: "gpu.unavailable",
// "gpu.alloc_failed" (CUDA's message, with the size and the device).
Result<ipc::DevicePayload> allocate_device_slots(int device, uint64_t bytes);

// A device pool (options.memory_kind and options.device are set here) on `device`, its slots
// in one new allocation of ShmFramePool::device_bytes_needed(options). Errors: those of
// allocate_device_slots() and ShmFramePool::create().
Result<std::shared_ptr<ipc::ShmFramePool>> create_device_pool(ipc::ShmFramePoolOptions options,
                                                              int device);

// For FrameReader::open(): opens a device pool's allocation by its handle on the pool's device
// (the reader's process must not be the one that allocated it: CUDA refuses that). Errors:
// "gpu.unavailable", "gpu.ipc_open_failed" (CUDA's message, the pool and device named).
ipc::DeviceMapper device_mapper();

// A slot of `pool` (a device pool) holding a packed copy of `src` (host or device memory, any
// format with planes), with src's identity; ready to publish. Errors: those of acquire(),
// "gpu.copy_failed".
Result<MutableFramePtr> copy_into_slot(ipc::ShmFramePool& pool, const Frame& src);

}  // namespace orion::gpu
