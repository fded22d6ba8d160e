// Overlay drawing for the compositor, and the optional sequence stamp: the frame's sequence
// number as a row of black/white blocks at the top-left, so that a client decoding the output
// can read back which source frame each output picture is (tests use it to prove that no
// frame is ever sent twice).
//
// Two layouts are drawn on: BGR24 (one plane) and the decoder's 4:2:0 layouts, I420 and NV12
// (YuvPicture), which the compositor keeps end to end so that a frame is never converted to
// BGR and back (ADR 0080). The same overlay, at the same positions, is drawn in both: each
// colour is the YUV value OpenCV's BGR → I420 conversion gives it (BT.601, as the encoder input
// was made before), lines and filled boxes are drawn on the luma plane at full resolution and
// on the chroma plane(s) at half resolution, and anti-aliased text is rendered once into a
// coverage mask that is blended into luma (full resolution) and chroma (the mask averaged 2×2).
//
// Thread-safety: pure functions on the caller's buffers.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "core/detection.h"
#include "core/frame.h"
#include "core/time.h"

namespace orion::media {

struct OverlayText {
  std::string stream;          // stream name
  std::string capture_time;    // formatted capture time of the frame
  double fps = 0;              // measured fps of the stream
  uint64_t sequence = 0;       // the frame's sequence
};

// Draws boxes (class and score, in the pipeline's colour), the header (stream, capture time,
// fps, sequence) and a legend line per pipeline (name, objects, age in frames, inference time).
void draw_overlay(uint8_t* bgr, int width, int height, int stride, const OverlayText& text,
                  const std::vector<DetectionResult>& results);

// A 4:2:0 picture drawn in place (borrowed planes): I420 (Y, U, V) or NV12 (Y, interleaved UV),
// even width and height. Any other format is not drawn on (the functions below do nothing).
struct YuvPicture {
  PixelFormat format = PixelFormat::kUnknown;
  int width = 0;
  int height = 0;
  std::array<uint8_t*, 3> planes{};
  std::array<int, 3> strides{};  // bytes per row of each plane
};

// The same overlay as the BGR draw_overlay, drawn in the picture's own layout.
void draw_overlay(const YuvPicture& picture, const OverlayText& text,
                  const std::vector<DetectionResult>& results);

// Draws the "signal lost" card: the last picture dimmed, a banner and the cause.
void draw_signal_lost(uint8_t* bgr, int width, int height, int stride, const std::string& stream,
                      Duration lost_for, const std::string& cause);

// Sequence stamp: 32 blocks (24 bits of sequence + 8 check bits), each `block` pixels square,
// where block = max(4, width / 40) rounded down to an even number.
void stamp_sequence(uint8_t* bgr, int width, int height, int stride, uint64_t sequence);
// The same stamp in a 4:2:0 picture (white and black blocks: luma and neutral chroma).
void stamp_sequence(const YuvPicture& picture, uint64_t sequence);
// Reads it back from a luma (GRAY8 / Y plane) picture; nullopt when the check bits fail.
std::optional<uint64_t> read_sequence(const uint8_t* luma, int width, int height, int stride);

// HH:MM:SS.mmm local wall-clock time of a SteadyClock timestamp.
std::string format_wall_time(Timestamp steady);

}  // namespace orion::media
