#include "ipc/validate.h"

#include <cstdio>
#include <cstring>
#include <string>

namespace orion::ipc {

namespace {

bool abi_compatible(uint32_t v) {
  for (uint32_t c : kCompatibleAbiVersions)
    if (c == v) return true;
  return false;
}

std::string hex(uint64_t v) {
  char buf[24];
  std::snprintf(buf, sizeof buf, "0x%016llx", static_cast<unsigned long long>(v));
  return buf;
}

Error bad(const char* code, std::string what) { return make_error(code, std::move(what)); }

std::string str(uint64_t v) { return std::to_string(v); }

bool known_format(uint8_t f) { return f >= 1 && f <= 5; }

bool all_zero(const uint8_t* p, size_t n) {
  for (size_t i = 0; i < n; ++i)
    if (p[i] != 0) return false;
  return true;
}

}  // namespace

const char* memory_kind_name(uint8_t kind) {
  return kind == 0 ? "host" : (kind == 1 ? "device" : "unknown");
}

int plane_count_of(PixelFormat format) {
  switch (format) {
    case PixelFormat::kBGR24:
    case PixelFormat::kRGB24:
    case PixelFormat::kGray8:
      return 1;
    case PixelFormat::kI420:
      return 3;
    case PixelFormat::kNV12:
      return 2;
    case PixelFormat::kUnknown:
      break;
  }
  return 0;
}

int64_t min_row_bytes(PixelFormat format, int width, int plane) {
  const int64_t w = width, cw = (int64_t{width} + 1) / 2;
  switch (format) {
    case PixelFormat::kBGR24:
    case PixelFormat::kRGB24:
      return plane == 0 ? w * 3 : 0;
    case PixelFormat::kGray8:
      return plane == 0 ? w : 0;
    case PixelFormat::kI420:
      return plane == 0 ? w : (plane <= 2 ? cw : 0);
    case PixelFormat::kNV12:
      return plane == 0 ? w : (plane == 1 ? cw * 2 : 0);
    case PixelFormat::kUnknown:
      break;
  }
  return 0;
}

int plane_rows(PixelFormat format, int height, int plane) {
  const int ch = (height + 1) / 2;
  if (plane < 0 || plane >= plane_count_of(format)) return 0;
  return plane == 0 ? height : ch;
}

Result<PoolGeometry> validate_pool_header(const uint8_t* base, size_t mapped_size) {
  if (base == nullptr || mapped_size < sizeof(PoolHeader))
    return bad("ipc.truncated", "pool segment of " + str(mapped_size) +
                                    " bytes is smaller than its " + str(sizeof(PoolHeader)) +
                                    "-byte header");
  PoolHeader h;
  std::memcpy(&h, base, sizeof h);
  if (h.magic != kPoolMagic)
    return bad("ipc.bad_magic", "pool header magic is " + hex(h.magic) + ", expected " +
                                    hex(kPoolMagic) +
                                    " (\"ORNPOOL1\"): not an Orion frame pool, or corrupt");
  if (!abi_compatible(h.abi_version))
    return bad("ipc.abi_mismatch", "pool ABI version " + str(h.abi_version) +
                                       " is not supported by this "
                                       "build (supports " +
                                       str(kAbiVersion) + ")");
  if (h.header_size != sizeof(PoolHeader))
    return bad("ipc.bad_header",
               "pool header_size " + str(h.header_size) + " != " + str(sizeof(PoolHeader)));
  if (h.slot_header_size != sizeof(SlotHeader))
    return bad("ipc.bad_header", "pool slot_header_size " + str(h.slot_header_size) +
                                     " != " + str(sizeof(SlotHeader)));
  if (h.slot_count == 0 || h.slot_count > kMaxSlots)
    return bad("ipc.bad_header",
               "pool slot_count " + str(h.slot_count) + " not in 1.." + str(kMaxSlots));
  if (h.segment_size > mapped_size)
    return bad("ipc.truncated", "pool segment_size " + str(h.segment_size) + " exceeds the " +
                                    str(mapped_size) + " bytes mapped");
  if (h.memory_kind > 1)
    return bad("ipc.memory_kind",
               "pool memory_kind " + str(h.memory_kind) + " is neither host (0) nor device (1)");
  const bool device = h.memory_kind == 1;
  if (!device && (h.device_index != 0 || h.device_bytes != 0 ||
                  !all_zero(h.device_handle, sizeof h.device_handle)))
    return bad("ipc.bad_header",
               "host pool carries device fields (device_index/device_bytes/device_handle must be "
               "zero)");
  if (device && (h.device_bytes == 0 || all_zero(h.device_handle, sizeof h.device_handle)))
    return bad("ipc.bad_header", "device pool (cuda:" + str(h.device_index) +
                                     ") has no device allocation (device_bytes " +
                                     str(h.device_bytes) + ", handle all zero or not)");
  if (h.slot_table_offset < sizeof(PoolHeader) || h.slot_table_offset % 64 != 0 ||
      h.slot_table_offset > h.segment_size)
    return bad("ipc.bad_header",
               "pool slot_table_offset " + str(h.slot_table_offset) + " is invalid");
  const uint64_t table_end = h.slot_table_offset + uint64_t{h.slot_count} * sizeof(SlotHeader);
  if (table_end > h.segment_size)
    return bad("ipc.truncated", "pool slot table ends at " + str(table_end) +
                                    ", beyond segment_size " + str(h.segment_size));
  // Host payloads follow the slot table in the segment; device payloads start anywhere
  // (page-aligned) in the device allocation.
  if (h.payload_offset % kPageSize != 0 || (!device && h.payload_offset < table_end) ||
      h.payload_offset > (device ? h.device_bytes : h.segment_size))
    return bad("ipc.bad_header", "pool payload_offset " + str(h.payload_offset) +
                                     (device ? " is not a page-aligned offset in the device "
                                               "allocation of " +
                                                   str(h.device_bytes) + " bytes"
                                             : " is not page-aligned after the slot table (ends "
                                               "at " +
                                                   str(table_end) + ")"));
  if (h.payload_capacity == 0 || h.payload_capacity > kMaxPayloadBytes)
    return bad("ipc.bad_header", "pool payload_capacity " + str(h.payload_capacity) +
                                     " not in 1.." + str(kMaxPayloadBytes));
  if (h.payload_stride < h.payload_capacity || h.payload_stride % kPageSize != 0 ||
      h.payload_stride > kMaxPayloadBytes + kPageSize)
    return bad("ipc.bad_header", "pool payload_stride " + str(h.payload_stride) +
                                     " is not a page multiple >= payload_capacity " +
                                     str(h.payload_capacity));
  // slot_count <= 2^12 and stride <= 2^33: no overflow below.
  const uint64_t payload_end = h.payload_offset + uint64_t{h.slot_count} * h.payload_stride;
  if (device && payload_end > h.device_bytes)
    return bad("ipc.bad_header", "device pool payloads end at " + str(payload_end) +
                                     ", beyond the device allocation of " + str(h.device_bytes) +
                                     " bytes");
  if (!device && payload_end > h.segment_size)
    return bad("ipc.truncated", "pool payloads end at " + str(payload_end) +
                                    ", beyond segment_size " + str(h.segment_size));
  PoolGeometry g;
  g.abi_version = h.abi_version;
  g.slot_count = h.slot_count;
  g.slot_table_offset = h.slot_table_offset;
  g.payload_offset = h.payload_offset;
  g.payload_stride = h.payload_stride;
  g.payload_capacity = h.payload_capacity;
  g.segment_size = h.segment_size;
  g.pool_id = h.pool_id;
  g.stream_id = h.stream_id;
  g.creator_pid = h.creator_pid;
  g.stream_name.assign(h.stream_name, strnlen(h.stream_name, sizeof h.stream_name));
  g.memory_kind = device ? MemoryKind::kDevice : MemoryKind::kHost;
  g.device_index = h.device_index;
  g.device_bytes = h.device_bytes;
  std::memcpy(g.device_handle.data(), h.device_handle, g.device_handle.size());
  return g;
}

Result<SlotView> validate_slot_header(const PoolGeometry& pool, const SlotHeader& h, uint32_t index,
                                      uint64_t expected_generation) {
  // Built only on the error path: the valid path allocates nothing.
  const auto where = [index] { return "slot " + str(index) + ": "; };
  if (index >= pool.slot_count)
    return bad("ipc.bad_slot",
               where() + "index out of range (pool has " + str(pool.slot_count) + " slots)");
  if (h.magic != kSlotMagic)
    return bad("ipc.bad_magic", where() + "magic is " + hex(h.magic) + ", expected " +
                                    hex(kSlotMagic) + " (\"ORNSLOT1\")");
  if (!abi_compatible(h.abi_version))
    return bad("ipc.abi_mismatch", where() + "ABI version " + str(h.abi_version) +
                                       " is not supported (supports " + str(kAbiVersion) + ")");
  if (h.slot_index != index)
    return bad("ipc.bad_slot", where() + "header says it is slot " + str(h.slot_index));
  if (expected_generation != 0 && h.generation != expected_generation)
    return bad("ipc.stale_slot", where() + "holds generation " + str(h.generation) +
                                     ", the token names " + str(expected_generation));
  if (h.stream_id != pool.stream_id)
    return bad("ipc.bad_slot", where() + "stream_id " + str(h.stream_id) + " != pool stream " +
                                   str(pool.stream_id));
  if (!known_format(h.format))
    return bad("ipc.bad_slot", where() + "unknown pixel format " + str(h.format));
  if (h.memory_kind > 1)
    return bad("ipc.memory_kind", where() + "memory_kind " + str(h.memory_kind) +
                                      " is neither host (0) nor device (1)");
  const auto pool_kind = static_cast<uint8_t>(pool.memory_kind);
  if (h.memory_kind != pool_kind)
    return bad("ipc.memory_kind", where() + "memory_kind " + str(h.memory_kind) + " (" +
                                      memory_kind_name(h.memory_kind) + ") but the pool's slots " +
                                      "are " + memory_kind_name(pool_kind) + " memory (" +
                                      str(pool_kind) + ")");
  const int want_device = pool.memory_kind == MemoryKind::kDevice ? pool.device_index : 0;
  if (h.device_index != want_device)
    return bad("ipc.memory_kind",
               where() + "device_index " + str(h.device_index) +
                   " != " + str(static_cast<uint64_t>(want_device)) +
                   (pool.memory_kind == MemoryKind::kDevice ? " (the pool's CUDA device)"
                                                            : " (host slots name no device)"));
  const auto format = static_cast<PixelFormat>(h.format);
  const int planes = plane_count_of(format);
  if (h.plane_count != planes)
    return bad("ipc.bad_slot", where() + "plane_count " + str(h.plane_count) +
                                   " != " + str(planes) + " for " + std::string(to_string(format)));
  if (h.width <= 0 || h.width > kMaxDimension || h.height <= 0 || h.height > kMaxDimension)
    return bad("ipc.bad_slot", where() + "size " + std::to_string(h.width) + "x" +
                                   std::to_string(h.height) + " not in 1.." +
                                   std::to_string(kMaxDimension));
  if (h.payload_offset != pool.slot_payload_offset(index))
    return bad("ipc.bad_slot", where() + "payload_offset " + str(h.payload_offset) +
                                   " != " + str(pool.slot_payload_offset(index)));
  if (h.payload_size == 0 || h.payload_size > pool.payload_capacity)
    return bad("ipc.bad_slot", where() + "payload_size " + str(h.payload_size) + " not in 1.." +
                                   str(pool.payload_capacity));
  SlotView v;
  v.layout.format = format;
  v.layout.width = h.width;
  v.layout.height = h.height;
  v.layout.plane_count = planes;
  v.layout.size = h.payload_size;
  for (int p = 0; p < planes; ++p) {
    const auto pi = static_cast<size_t>(p);
    const int64_t min_row = min_row_bytes(format, h.width, p);
    if (h.strides[pi] < min_row || h.strides[pi] > (1 << 20))
      return bad("ipc.bad_slot", where() + "stride[" + std::to_string(p) + "] " +
                                     std::to_string(h.strides[pi]) + " < row bytes " +
                                     std::to_string(min_row) + " (or absurd)");
    const uint64_t bytes = static_cast<uint64_t>(h.strides[pi]) *
                           static_cast<uint64_t>(plane_rows(format, h.height, p));
    if (h.plane_offsets[pi] > h.payload_size || bytes > h.payload_size - h.plane_offsets[pi])
      return bad("ipc.bad_slot", where() + "plane " + std::to_string(p) + " [" +
                                     str(h.plane_offsets[pi]) + ", +" + str(bytes) +
                                     ") exceeds payload_size " + str(h.payload_size));
    v.layout.strides[pi] = h.strides[pi];
    v.layout.offsets[pi] = h.plane_offsets[pi];
  }
  v.slot_index = index;
  v.generation = h.generation;
  v.identity.stream = h.stream_id;
  v.identity.sequence = h.sequence;
  v.identity.pts = Duration::nanos(h.pts_ns);
  v.identity.capture_time = Timestamp::from_nanos(h.capture_time_ns);
  v.memory_kind = pool.memory_kind;
  v.device_index = want_device;
  v.payload_offset = h.payload_offset;
  return v;
}

Result<SlotView> read_slot_header(const PoolGeometry& pool, const uint8_t* base, size_t mapped_size,
                                  uint32_t index, uint64_t expected_generation) {
  if (index >= pool.slot_count)
    return bad("ipc.bad_slot", "slot " + str(index) + ": index out of range (pool has " +
                                   str(pool.slot_count) + " slots)");
  const uint64_t off = pool.slot_header_offset(index);
  if (base == nullptr || off + sizeof(SlotHeader) > mapped_size)
    return bad("ipc.truncated", "slot " + str(index) + ": header at " + str(off) +
                                    " lies beyond the " + str(mapped_size) + " bytes mapped");
  SlotHeader h;
  std::memcpy(&h, base + off, sizeof h);
  auto v = validate_slot_header(pool, h, index, expected_generation);
  // Device payloads are not in the mapping (validate_pool_header bounded them by device_bytes).
  if (v.ok() && v->memory_kind == MemoryKind::kHost &&
      v->payload_offset + v->layout.size > mapped_size)
    return bad("ipc.truncated", "slot " + str(index) + ": payload ends beyond the mapping");
  return v;
}

Status validate_mailbox_block(const uint8_t* base, size_t mapped_size, const PoolGeometry& pool) {
  if (base == nullptr || mapped_size < sizeof(MailboxBlock))
    return bad("ipc.truncated", "mailbox segment of " + str(mapped_size) +
                                    " bytes is smaller than its " + str(sizeof(MailboxBlock)) +
                                    "-byte block");
  uint64_t magic;
  uint32_t abi, block_size, stream_id, slot_count;
  uint64_t pool_id;
  std::memcpy(&magic, base + offsetof(MailboxBlock, magic), 8);
  std::memcpy(&abi, base + offsetof(MailboxBlock, abi_version), 4);
  std::memcpy(&block_size, base + offsetof(MailboxBlock, block_size), 4);
  std::memcpy(&stream_id, base + offsetof(MailboxBlock, stream_id), 4);
  std::memcpy(&slot_count, base + offsetof(MailboxBlock, slot_count), 4);
  std::memcpy(&pool_id, base + offsetof(MailboxBlock, pool_id), 8);
  if (magic != kMailboxMagic)
    return bad("ipc.bad_magic", "mailbox magic is " + hex(magic) + ", expected " +
                                    hex(kMailboxMagic) + " (\"ORNMBOX1\")");
  if (!abi_compatible(abi))
    return bad("ipc.abi_mismatch", "mailbox ABI version " + str(abi) +
                                       " is not supported (supports " + str(kAbiVersion) + ")");
  if (block_size != sizeof(MailboxBlock))
    return bad("ipc.bad_header",
               "mailbox block_size " + str(block_size) + " != " + str(sizeof(MailboxBlock)));
  if (pool_id != pool.pool_id || stream_id != pool.stream_id || slot_count != pool.slot_count)
    return bad("ipc.bad_header",
               "mailbox belongs to another pool (pool_id/stream/slot_count differ)");
  return {};
}

}  // namespace orion::ipc
