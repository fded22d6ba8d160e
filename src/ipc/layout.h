// The shared-memory ABI between the engine and worker processes: every byte a worker (in any
// language) reads or writes. docs/design/worker_protocol.md describes the same layout for
// authors of workers; the static_asserts below pin it so that a change cannot go unnoticed.
//
// Rules (iceoryx chunk_header, Chromium persistent_memory_allocator):
//   - standard layout, fixed-width little-endian fields, explicit padding, no pointers: every
//     position is an offset from the start of the segment it lives in;
//   - every block starts with a magic and an ABI version; a reader accepts only the versions in
//     kCompatibleAbiVersions and validates every header (validate.h) before using a field;
//   - a reader copies a header into private memory, validates the copy and uses only the copy,
//     so a header that changes under it cannot make it read out of bounds.
//
// Two kinds of segment (memfd objects, sealed against resizing: ADR 0030):
//   pool segment, one per stream, written by the engine only, mapped read-only by workers and
//   sealed F_SEAL_FUTURE_WRITE, so no worker can write it whatever descriptor it obtains:
//     [PoolHeader @0][SlotHeader × slot_count @slot_table_offset][payload × slot_count
//     @payload_offset]
//   A device pool (PoolHeader::memory_kind 1, ADR 0074) keeps its payloads in GPU memory
//   instead: one device allocation of `device_bytes` made once by the engine on CUDA device
//   `device_index`, named by the CUDA IPC handle `device_handle` (cudaIpcGetMemHandle), which
//   a GPU worker opens once (cudaIpcOpenMemHandle). payload_offset/payload_stride are then
//   offsets in that allocation, and the segment ends after the slot table.
//   mailbox segment, one per (worker, stream), one page, mapped read-write by both:
//     [MailboxBlock @0]
//   The engine trusts nothing a worker can write: what it counts about a mailbox is kept in its
//   own memory (ipc/shm_frame_pool.h); the engine-written fields of MailboxBlock other than
//   `offer` are a mirror for the worker, never read back.
//
// Frame tokens name one write of one slot: token = generation << 16 | (slot_index + 1).
// Generations come from one counter per pool, start at 1 and never repeat, so a token is never
// reused and 0 means "no frame".
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <type_traits>

namespace orion::ipc {

inline constexpr uint32_t kAbiVersion = 1;
// Versions this build can read. A future version that only appends fields may list 1 here.
inline constexpr uint32_t kCompatibleAbiVersions[] = {1};

constexpr uint64_t magic8(const char (&s)[9]) {
  uint64_t v = 0;
  for (int i = 7; i >= 0; --i) v = (v << 8) | static_cast<uint8_t>(s[i]);
  return v;  // the 8 ASCII bytes in memory order (little-endian)
}
inline constexpr uint64_t kPoolMagic = magic8("ORNPOOL1");
inline constexpr uint64_t kSlotMagic = magic8("ORNSLOT1");
inline constexpr uint64_t kMailboxMagic = magic8("ORNMBOX1");

inline constexpr uint32_t kMaxSlots = 4096;
inline constexpr int kMaxDimension = 16384;
inline constexpr uint64_t kMaxPayloadBytes = uint64_t{1} << 32;  // 4 GiB per frame at most
inline constexpr size_t kPageSize = 4096;
inline constexpr size_t kMailboxSegmentSize = kPageSize;

// Pool segment header, at offset 0. Written once by the engine at creation, then constant,
// except `wake_word` (an atomic counter readers sleep on; never part of validation).
struct PoolHeader {
  uint64_t magic;              // 0   kPoolMagic
  uint32_t abi_version;        // 8   kAbiVersion
  uint32_t header_size;        // 12  sizeof(PoolHeader)
  uint32_t slot_header_size;   // 16  sizeof(SlotHeader)
  uint32_t slot_count;         // 20  1..kMaxSlots
  uint64_t slot_table_offset;  // 24  offset of SlotHeader 0 (64-aligned)
  uint64_t payload_offset;     // 32  offset of payload 0 (page-aligned)
  uint64_t payload_stride;     // 40  bytes from one payload to the next (page multiple)
  uint64_t payload_capacity;   // 48  largest frame a slot holds, bytes (<= payload_stride)
  uint64_t segment_size;       // 56  bytes of the whole segment
  uint64_t pool_id;            // 64  random; mailboxes of this pool carry the same id
  uint32_t stream_id;          // 72
  uint32_t creator_pid;        // 76  the engine process
  char stream_name[64];        // 80  NUL-terminated UTF-8
  uint32_t wake_word;          // 144 the futex every reader of this pool sleeps on: +1 after
                               //     every publish and every close (atomic; the one field that
                               //     changes after creation)
  uint8_t memory_kind;         // 148 where the payloads live: 0 host (this segment), 1 device
  uint8_t device_index;        // 149 CUDA device ordinal of a device pool (0 for host)
  uint8_t reserved0[2];        // 150 zero
  uint32_t reserved1;          // 152 zero
  uint32_t reserved2;          // 156 zero
  uint64_t device_bytes;       // 160 size of the device allocation (0 for host)
  uint8_t device_handle[64];   // 168 cudaIpcMemHandle_t of the allocation (zero for host)
  uint8_t reserved[24];        // 232 zero
};                             // 256 bytes
inline constexpr size_t kDeviceHandleBytes = 64;  // sizeof(cudaIpcMemHandle_t)

// One slot's header, at slot_table_offset + i * slot_header_size. Written by the engine only
// while no mailbox offers and no worker leases the slot; constant while a token of it is out.
struct SlotHeader {
  uint64_t magic;             // 0   kSlotMagic
  uint32_t abi_version;       // 8
  uint32_t slot_index;        // 12  i
  uint64_t generation;        // 16  generation of the frame now in the slot (token >> 16)
  uint32_t stream_id;         // 24  == PoolHeader::stream_id
  uint8_t format;             // 28  orion::PixelFormat (1 BGR24, 2 RGB24, 3 GRAY8, 4 I420, 5 NV12)
  uint8_t memory_kind;        // 29  0 host, 1 device (== PoolHeader::memory_kind)
  uint8_t plane_count;        // 30  1..3
  uint8_t device_index;       // 31  CUDA device of a device slot (== PoolHeader::device_index)
  uint64_t sequence;          // 32  per-stream frame number, from 1, increasing
  int64_t pts_ns;             // 40  presentation time in the stream
  int64_t capture_time_ns;    // 48  CLOCK_MONOTONIC time of capture (comparable across processes)
  int32_t width;              // 56
  int32_t height;             // 60
  int32_t strides[3];         // 64  bytes per row of each plane
  uint32_t reserved1;         // 76
  uint64_t plane_offsets[3];  // 80  offset of each plane from the start of the payload
  uint64_t payload_offset;    // 104 offset of the payload in the segment
  uint64_t payload_size;      // 112 bytes of this frame (<= payload_capacity)
  uint64_t reserved2;         // 120
};                            // 128 bytes

// A mailbox: one (worker, stream) pair. Single slot, overwrite, newest only.
//   engine: old = exchange(offer, token): old 0 → its previous offer was taken, old == its
//           previous token → a drop, anything else → the worker scribbled the word (counted,
//           and the previous offer counts as taken); counts kept engine-private, then mirrored
//           into `offered`/`dropped`. Once every mailbox of the pool holds the frame:
//           PoolHeader::wake_word++, and one futex_wake(wake_word, all) when any mailbox's
//           `waiting` is 1.
//   worker: t = offer; lease = t; compare_exchange(offer, t → 0): on success it holds t until
//           it stores lease = 0 (or the next take replaces it). It writes nothing else on the
//           engine's cache line.
// Written fields are grouped per writer on separate cache lines. The worker can write every
// byte of the page: the engine reads its side only as claims (lease, progress, ...) and
// bounds-checks every token before using it as an index.
struct MailboxBlock {
  // Identity, written once by the engine at creation.
  uint64_t magic;        // 0   kMailboxMagic
  uint32_t abi_version;  // 8
  uint32_t block_size;   // 12  sizeof(MailboxBlock)
  uint32_t stream_id;    // 16
  uint32_t slot_count;   // 20  of the pool
  uint64_t pool_id;      // 24  == PoolHeader::pool_id
  char name[32];         // 32  subscriber name, NUL-terminated
  // Engine side (worker only CASes `offer` to 0 and reads the rest). Apart from `offer`, a
  // mirror of engine-private state, rewritten at every offer and at close, never read back.
  std::atomic<uint32_t> notify_seq;  // 64  +1 at every offer and at close (informational)
  std::atomic<uint32_t> flags;       // 68  bit 0: closed (no more frames); mirror of the
                                     //     engine's own flag, which alone stops offers
  std::atomic<uint64_t> offer;       // 72  token of the pending frame, 0 = none (the handshake)
  std::atomic<uint64_t> offered;     // 80  frames offered (mirror)
  std::atomic<uint64_t> dropped;     // 88  offers replaced or closed before taken (mirror)
  uint8_t pad_engine[32];            // 96
  // Worker side: the worker's claims (the engine only reads them, as claims, and zeroes
  // `lease` when it reclaims a dead worker's).
  std::atomic<uint32_t> waiting;        // 128 1 while the worker is about to block / blocked
  std::atomic<uint32_t> worker_pid;     // 132 informational
  std::atomic<uint64_t> lease;          // 136 token of the frame the worker reads, 0 = none
  std::atomic<uint64_t> taken;          // 144 frames taken (worker; informational)
  std::atomic<uint64_t> last_sequence;  // 152 sequence of the last frame taken
  std::atomic<int64_t> progress_ns;     // 160 CLOCK_MONOTONIC time of the worker loop's last step
  uint8_t pad_worker[88];               // 168
};                                      // 256 bytes

inline constexpr uint32_t kMailboxClosed = 1u;

// ---- tokens -------------------------------------------------------------------------------
inline constexpr uint64_t kNoToken = 0;
inline constexpr uint64_t kMaxGeneration = (uint64_t{1} << 48) - 1;
constexpr uint64_t make_token(uint32_t slot_index, uint64_t generation) {
  return (generation << 16) | (uint64_t{slot_index} + 1);
}
// Slot index of a token; kMaxSlots or more means the token is not valid (check against the pool).
constexpr uint32_t token_slot(uint64_t token) {
  return static_cast<uint32_t>(token & 0xFFFF) == 0 ? 0xFFFFFFFFu
                                                    : static_cast<uint32_t>(token & 0xFFFF) - 1;
}
constexpr uint64_t token_generation(uint64_t token) { return token >> 16; }

// ---- layout pins ----------------------------------------------------------------------------
static_assert(std::is_standard_layout_v<PoolHeader> && std::is_trivially_copyable_v<PoolHeader>);
static_assert(std::is_standard_layout_v<SlotHeader> && std::is_trivially_copyable_v<SlotHeader>);
static_assert(std::is_standard_layout_v<MailboxBlock>);
static_assert(std::atomic<uint32_t>::is_always_lock_free &&
              std::atomic<uint64_t>::is_always_lock_free &&
              std::atomic<int64_t>::is_always_lock_free);
static_assert(sizeof(std::atomic<uint64_t>) == 8 && alignof(std::atomic<uint64_t>) == 8);

static_assert(sizeof(PoolHeader) == 256);
static_assert(offsetof(PoolHeader, abi_version) == 8);
static_assert(offsetof(PoolHeader, slot_count) == 20);
static_assert(offsetof(PoolHeader, slot_table_offset) == 24);
static_assert(offsetof(PoolHeader, payload_offset) == 32);
static_assert(offsetof(PoolHeader, payload_stride) == 40);
static_assert(offsetof(PoolHeader, payload_capacity) == 48);
static_assert(offsetof(PoolHeader, segment_size) == 56);
static_assert(offsetof(PoolHeader, pool_id) == 64);
static_assert(offsetof(PoolHeader, stream_id) == 72);
static_assert(offsetof(PoolHeader, stream_name) == 80);
static_assert(offsetof(PoolHeader, wake_word) == 144 && offsetof(PoolHeader, wake_word) % 4 == 0);
static_assert(offsetof(PoolHeader, memory_kind) == 148);
static_assert(offsetof(PoolHeader, device_index) == 149);
static_assert(offsetof(PoolHeader, device_bytes) == 160);
static_assert(offsetof(PoolHeader, device_handle) == 168);

static_assert(sizeof(SlotHeader) == 128);
static_assert(offsetof(SlotHeader, generation) == 16);
static_assert(offsetof(SlotHeader, format) == 28);
static_assert(offsetof(SlotHeader, memory_kind) == 29);
static_assert(offsetof(SlotHeader, device_index) == 31);
static_assert(offsetof(SlotHeader, sequence) == 32);
static_assert(offsetof(SlotHeader, pts_ns) == 40);
static_assert(offsetof(SlotHeader, capture_time_ns) == 48);
static_assert(offsetof(SlotHeader, width) == 56);
static_assert(offsetof(SlotHeader, strides) == 64);
static_assert(offsetof(SlotHeader, plane_offsets) == 80);
static_assert(offsetof(SlotHeader, payload_offset) == 104);
static_assert(offsetof(SlotHeader, payload_size) == 112);

static_assert(sizeof(MailboxBlock) == 256);
static_assert(offsetof(MailboxBlock, name) == 32);
static_assert(offsetof(MailboxBlock, notify_seq) == 64);
static_assert(offsetof(MailboxBlock, flags) == 68);
static_assert(offsetof(MailboxBlock, offer) == 72);
static_assert(offsetof(MailboxBlock, offered) == 80);
static_assert(offsetof(MailboxBlock, dropped) == 88);
static_assert(offsetof(MailboxBlock, waiting) == 128);
static_assert(offsetof(MailboxBlock, worker_pid) == 132);
static_assert(offsetof(MailboxBlock, lease) == 136);
static_assert(offsetof(MailboxBlock, taken) == 144);
static_assert(offsetof(MailboxBlock, last_sequence) == 152);
static_assert(offsetof(MailboxBlock, progress_ns) == 160);
static_assert(sizeof(MailboxBlock) <= kMailboxSegmentSize);

}  // namespace orion::ipc
