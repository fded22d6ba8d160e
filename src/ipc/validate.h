// Validation of everything read from shared memory. A worker (or the engine, for memory a
// worker can write) never uses a field of a header before it went through one of these; each
// returns a private, validated copy, so later changes to the shared bytes cannot affect it.
//
// Error codes (stable, shown to users and in worker error reports):
//   "ipc.truncated"     the mapping is smaller than the header or the segment it announces
//   "ipc.bad_magic"     the magic cookie is not the expected one (not our memory, or corrupt)
//   "ipc.abi_mismatch"  the ABI version is not in kCompatibleAbiVersions
//   "ipc.bad_header"    a field is out of range or inconsistent (the message names the field)
//   "ipc.bad_slot"      a slot header is out of range / inconsistent (the message names it)
//   "ipc.stale_slot"    the slot holds another generation than the token asked for
//   "ipc.memory_kind"   a memory kind (host 0 / device 1) is unknown, or a slot's kind or
//                       device differs from its pool's (the message names both)
//
// Thread-safety: pure functions over the given bytes; thread-safe.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <string>

#include "core/frame.h"
#include "core/result.h"
#include "ipc/layout.h"

namespace orion::ipc {

// Validated copy of a PoolHeader.
struct PoolGeometry {
  uint32_t abi_version = 0;
  uint32_t slot_count = 0;
  uint64_t slot_table_offset = 0;
  uint64_t payload_offset = 0;
  uint64_t payload_stride = 0;
  uint64_t payload_capacity = 0;
  uint64_t segment_size = 0;
  uint64_t pool_id = 0;
  StreamId stream_id = 0;
  uint32_t creator_pid = 0;
  std::string stream_name;
  // Where the payloads live. kDevice: payload offsets are offsets in one device allocation of
  // `device_bytes` on CUDA device `device_index`, named by `device_handle` (a CUDA IPC handle);
  // the segment itself holds no pixels.
  MemoryKind memory_kind = MemoryKind::kHost;
  int device_index = 0;
  uint64_t device_bytes = 0;
  std::array<uint8_t, kDeviceHandleBytes> device_handle{};

  uint64_t slot_header_offset(uint32_t i) const {
    return slot_table_offset + uint64_t{i} * sizeof(SlotHeader);
  }
  uint64_t slot_payload_offset(uint32_t i) const {
    return payload_offset + uint64_t{i} * payload_stride;
  }
};

// Validated copy of a SlotHeader: the frame it describes.
struct SlotView {
  uint32_t slot_index = 0;
  uint64_t generation = 0;
  FrameIdentity identity;
  FrameLayout layout;  // offsets relative to the payload; size = payload_size
  MemoryKind memory_kind = MemoryKind::kHost;  // == the pool's (checked)
  int device_index = 0;                        // == the pool's for device slots, else 0
  uint64_t payload_offset = 0;  // from the start of the segment (host) or the allocation (device)
};

// `mapped_size`: bytes actually mapped at `base` (the segment must fit in it).
Result<PoolGeometry> validate_pool_header(const uint8_t* base, size_t mapped_size);

// Validates a copy of slot `index`'s header against the pool. `expected_generation` 0 accepts
// any generation (used by tools); a token's reader passes token_generation(token).
Result<SlotView> validate_slot_header(const PoolGeometry& pool, const SlotHeader& header,
                                      uint32_t index, uint64_t expected_generation);
// Same, reading (copying) the header from the mapped segment first; checks the header lies
// inside `mapped_size`.
Result<SlotView> read_slot_header(const PoolGeometry& pool, const uint8_t* base, size_t mapped_size,
                                  uint32_t index, uint64_t expected_generation);

// "host" (0) or "device" (1), else "unknown"; for messages.
const char* memory_kind_name(uint8_t kind);

// Checks a mailbox segment's identity block and that it belongs to `pool`.
Status validate_mailbox_block(const uint8_t* base, size_t mapped_size, const PoolGeometry& pool);

// Minimum bytes per row and rows of plane `plane` for a format; 0 when the plane does not exist.
int64_t min_row_bytes(PixelFormat format, int width, int plane);
int plane_rows(PixelFormat format, int height, int plane);
int plane_count_of(PixelFormat format);

}  // namespace orion::ipc
