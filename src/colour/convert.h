// Pixel-format conversion: the one place that knows how each PixelFormat becomes BGR or
// luminance, and how BGR becomes the I420 an H.264 encoder takes. Used by media (capture,
// encoder input) and infer (detector and motion-gate input).
//
// Images are described by an ImageView: format, size and, per plane, a pointer and a row
// stride in bytes, so a decoder's buffer (padded planes, planes in separate memory) and a
// Frame are read the same way without a copy. Destinations are packed rows of `dst_stride`
// bytes that the caller owns.
//
// Errors (Status): "colour.bad_size" (empty image, odd width or height for I420/NV12 — crop
// to even first, a destination stride too small), "colour.unsupported" (kUnknown or a format
// the function does not take), "colour.failed" (the conversion library refused; the message
// says why). Nothing is thrown.
//
// Thread-safety: pure functions, thread-safe. A padded I420 image is repacked through a
// buffer kept per calling thread (allocated once, grown when an image is larger).
#pragma once

#include <array>
#include <cstdint>

#include "core/frame.h"
#include "core/result.h"

namespace orion::colour {

// Read-only planes of one image (borrowed: valid while the memory they point into is).
// Planes used: 1 for BGR24, RGB24 and GRAY8, 2 for NV12 (Y, interleaved UV), 3 for I420.
struct ImageView {
  PixelFormat format = PixelFormat::kUnknown;
  int width = 0;
  int height = 0;
  std::array<const uint8_t*, 3> planes{};
  std::array<int, 3> strides{};  // bytes per row of each plane
};

// The planes of a host-memory frame, as its layout describes them.
ImageView view_of(const Frame& frame);

// Writes `src` as BGR24 (width*3 bytes per row) into `dst`, rows `dst_stride` bytes apart.
// BGR24 is copied; RGB24, GRAY8, I420 and NV12 are converted (BT.601, as decoders output).
Status to_bgr(const ImageView& src, uint8_t* dst, int dst_stride);

// Writes the luminance of `src` (width bytes per row) into `dst`: the Y plane of I420/NV12
// and GRAY8 are copied, BGR24/RGB24 converted.
Status to_gray(const ImageView& src, uint8_t* dst, int dst_stride);

// BGR24 rows `stride` bytes apart -> packed I420 in `dst` (width*height*3/2 bytes: the Y
// plane, then U, then V, each without row padding).
Status bgr_to_i420(const uint8_t* bgr, int width, int height, int stride, uint8_t* dst);

// Any of BGR24, I420 or NV12 -> packed I420 in `dst` (width*height*3/2 bytes), what an H.264
// encoder takes: BGR24 converted (as bgr_to_i420), I420 copied row by row, NV12's interleaved
// chroma split into the U and V planes (no arithmetic: the same YUV values).
Status to_i420(const ImageView& src, uint8_t* dst);

// Copies `src` into `dst`, laid out as `layout` says (same format and size as src; any row
// padding in layout is left as it was). The decoder's layout is kept: no conversion.
Status copy_image(const ImageView& src, const FrameLayout& layout, uint8_t* dst);

}  // namespace orion::colour
