// FrameReader: the worker's end of one mailbox. It maps the stream's pool read-only and its
// mailbox read-write, and hands out the newest frame as an ordinary orion::Frame whose pixels
// are the slot itself (zero copy). Protocol: docs/design/worker_protocol.md.
//
// Semantics (the FrameSupplier's, across processes): next_frame() blocks until a frame newer
// than the last one taken is offered, takes it (it is never returned twice), and never returns
// an older frame than one already returned.
//
// Leases: taking a frame leases its slot: the engine will not rewrite the slot until the lease
// ends, which is when the returned FramePtr (and every copy of it) is destroyed. One lease at a
// time: next_frame() refuses ("ipc.lease_held") while the previous frame is alive.
//
// Every header is validated (ipc/validate.h) before use; a bad one is an Error, the lease is
// released and the reader carries on with the next frame.
//
// Device pools (ADR 0074): the payloads are in GPU memory of the engine's allocation. open()
// then needs a DeviceMapper (src/gpu: gpu::device_mapper(), cudaIpcOpenMemHandle), called
// once with the validated geometry; frames are MemoryKind::kDevice, data() a device pointer
// into that mapping (no host copy); the CPU never touches them.
//
// Lifecycle: open() → next_frame()... → destruction (unmaps; a live frame keeps the mappings).
// Thread-safety: next_frame() is for one thread; mark_progress()/stats() from any thread.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>

#include "core/frame.h"
#include "core/result.h"
#include "core/time.h"
#include "ipc/unique_fd.h"
#include "ipc/validate.h"

namespace orion::ipc {

struct ReaderStats {
  uint64_t taken = 0;
  uint64_t invalid = 0;  // frames refused by validation
  uint64_t last_sequence = 0;
};

// A device pool's allocation mapped into this process: `base` is the device pointer of the
// allocation's offset 0 (payload offsets are added to it); `holder` unmaps when the last copy
// goes (the reader and every frame it handed out hold one).
struct DeviceMapping {
  uint8_t* base = nullptr;
  std::shared_ptr<void> holder;
};
using DeviceMapper = std::function<Result<DeviceMapping>(const PoolGeometry&)>;

class FrameReader {
 public:
  // Takes ownership of both descriptors: the pool (mapped read-only) and the mailbox
  // (read-write). Validates the pool header and the mailbox block; maps a device pool's
  // allocation with `device_mapper`.
  // Error codes: "ipc.shm_map", every code of validate.h, "ipc.memory_kind" (a device pool
  // and no mapper), and the mapper's errors.
  static Result<std::unique_ptr<FrameReader>> open(UniqueFd pool_fd, UniqueFd mailbox_fd,
                                                   const DeviceMapper& device_mapper = nullptr);
  ~FrameReader();
  FrameReader(const FrameReader&) = delete;
  FrameReader& operator=(const FrameReader&) = delete;

  // Error codes: "timeout", "closed" (the engine closed the mailbox), "ipc.lease_held",
  // "ipc.not_newer" and validation codes (that frame is skipped).
  // `timeout` is real time (SteadyClock, CLOCK_MONOTONIC: the futex's own timeout), not an
  // injectable Clock: the wait is ended by another process writing shared memory, which a
  // FakeClock of this process cannot stand in for, and the worker's periodic progress mark
  // that rides on it is compared by the engine with its own CLOCK_MONOTONIC.
  Result<FramePtr> next_frame(Duration timeout = Duration::max());

  // Records that the worker loop is alive at `now` (shown in the engine's statistics).
  void mark_progress(Timestamp now);
  const PoolGeometry& pool() const;
  ReaderStats stats() const;

  struct State;

 private:
  explicit FrameReader(std::shared_ptr<State> s) : state_(std::move(s)) {}
  std::shared_ptr<State> state_;
};

}  // namespace orion::ipc
