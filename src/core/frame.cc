#include "core/frame.h"

#include <utility>

namespace orion {

std::string_view to_string(PixelFormat format) {
  switch (format) {
    case PixelFormat::kBGR24: return "BGR";
    case PixelFormat::kRGB24: return "RGB";
    case PixelFormat::kGray8: return "GRAY8";
    case PixelFormat::kI420: return "I420";
    case PixelFormat::kNV12: return "NV12";
    case PixelFormat::kUnknown: break;
  }
  return "unknown";
}

namespace {
int align_up(int v, int a) { return a <= 1 ? v : (v + a - 1) / a * a; }
}  // namespace

FrameLayout FrameLayout::packed(PixelFormat format, int width, int height, int row_align) {
  FrameLayout l;
  if (width <= 0 || height <= 0) return l;
  l.format = format;
  l.width = width;
  l.height = height;
  const int cw = (width + 1) / 2;
  const int ch = (height + 1) / 2;
  switch (format) {
    case PixelFormat::kBGR24:
    case PixelFormat::kRGB24:
      l.plane_count = 1;
      l.strides[0] = align_up(width * 3, row_align);
      l.size = static_cast<size_t>(l.strides[0]) * static_cast<size_t>(height);
      break;
    case PixelFormat::kGray8:
      l.plane_count = 1;
      l.strides[0] = align_up(width, row_align);
      l.size = static_cast<size_t>(l.strides[0]) * static_cast<size_t>(height);
      break;
    case PixelFormat::kI420:
      l.plane_count = 3;
      l.strides = {align_up(width, row_align), align_up(cw, row_align), align_up(cw, row_align)};
      l.offsets[1] = static_cast<size_t>(l.strides[0]) * static_cast<size_t>(height);
      l.offsets[2] = l.offsets[1] + static_cast<size_t>(l.strides[1]) * static_cast<size_t>(ch);
      l.size = l.offsets[2] + static_cast<size_t>(l.strides[2]) * static_cast<size_t>(ch);
      break;
    case PixelFormat::kNV12:
      l.plane_count = 2;
      l.strides[0] = align_up(width, row_align);
      l.strides[1] = align_up(cw * 2, row_align);
      l.offsets[1] = static_cast<size_t>(l.strides[0]) * static_cast<size_t>(height);
      l.size = l.offsets[1] + static_cast<size_t>(l.strides[1]) * static_cast<size_t>(ch);
      break;
    case PixelFormat::kUnknown:
      return FrameLayout{};
  }
  return l;
}

Frame::Frame(FrameLayout layout, PixelMemory memory)
    : layout_(layout), memory_(std::move(memory)) {}

Frame::~Frame() {
  if (memory_.release) memory_.release();
}

}  // namespace orion
