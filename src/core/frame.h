// Frame: one decoded video picture, its identity and its pixel memory.
//
// Lifecycle: a producer obtains a mutable Frame (std::unique_ptr<Frame>) from a FramePool,
// writes the pixels exactly once and sets the identity, then freezes it into a FramePtr
// (std::shared_ptr<const Frame>) and publishes it. From then on nobody writes the frame
// (immutability contract): every consumer reads the same pixels, no copies. When the last
// FramePtr goes away, the frame's PixelMemory::release runs, which hands the memory back to
// whoever owns it (a pool slot, a GStreamer buffer, device memory).
//
// Thread-safety: a frozen Frame is immutable and may be read from any thread.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string_view>

#include "core/time.h"

namespace orion {

using StreamId = uint32_t;

// Who a frame is: which stream, which picture of it, and when it was captured.
struct FrameIdentity {
  StreamId stream = 0;
  uint64_t sequence = 0;   // per stream, strictly increasing from 1
  Duration pts;            // presentation time within the stream
  Timestamp capture_time;  // SteadyClock time at which the picture was decoded/captured

  bool operator==(const FrameIdentity&) const = default;
};

enum class PixelFormat : uint8_t { kUnknown = 0, kBGR24 = 1, kRGB24 = 2, kGray8 = 3, kI420 = 4, kNV12 = 5 };

std::string_view to_string(PixelFormat format);

enum class MemoryKind : uint8_t { kHost = 0, kDevice = 1 };

inline constexpr int kMaxPlanes = 3;

// Geometry of a picture: format, size and the layout of its planes inside one buffer.
struct FrameLayout {
  PixelFormat format = PixelFormat::kUnknown;
  int width = 0;
  int height = 0;
  int plane_count = 0;
  std::array<size_t, kMaxPlanes> offsets{};  // byte offset of each plane in the buffer
  std::array<int, kMaxPlanes> strides{};     // bytes per row of each plane
  size_t size = 0;                           // total bytes

  // Tightly packed layout (rows aligned to `row_align` bytes). Empty layout (size 0) when the
  // format is unknown or a dimension is not positive.
  static FrameLayout packed(PixelFormat format, int width, int height, int row_align = 1);
  bool valid() const { return size > 0; }
};

// Pixel memory and how to give it back. `release` runs exactly once, when the frame dies.
struct PixelMemory {
  uint8_t* data = nullptr;
  size_t size = 0;
  MemoryKind kind = MemoryKind::kHost;
  std::function<void()> release;
};

class Frame {
 public:
  Frame(FrameLayout layout, PixelMemory memory);
  ~Frame();
  Frame(const Frame&) = delete;
  Frame& operator=(const Frame&) = delete;

  const FrameIdentity& identity() const { return identity_; }
  const FrameLayout& layout() const { return layout_; }
  PixelFormat format() const { return layout_.format; }
  int width() const { return layout_.width; }
  int height() const { return layout_.height; }
  int stride(int plane = 0) const { return layout_.strides[static_cast<size_t>(plane)]; }
  MemoryKind memory_kind() const { return memory_.kind; }
  size_t size() const { return memory_.size; }
  const uint8_t* data() const { return memory_.data; }
  const uint8_t* plane(int i) const { return memory_.data + layout_.offsets[static_cast<size_t>(i)]; }

  // Writers, reachable only while the frame is not yet frozen (non-const).
  uint8_t* mutable_data() { return memory_.data; }
  uint8_t* mutable_plane(int i) { return memory_.data + layout_.offsets[static_cast<size_t>(i)]; }
  void set_identity(const FrameIdentity& id) { identity_ = id; }

 private:
  FrameIdentity identity_;
  FrameLayout layout_;
  PixelMemory memory_;
};

using FramePtr = std::shared_ptr<const Frame>;
using MutableFramePtr = std::unique_ptr<Frame>;

// Publishing hands ownership over: the producer keeps no writable handle.
inline FramePtr freeze(MutableFramePtr frame) { return FramePtr(std::move(frame)); }

}  // namespace orion
