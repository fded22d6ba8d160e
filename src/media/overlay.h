// Overlay drawing for the compositor, and the optional sequence stamp: the frame's sequence
// number as a row of black/white blocks at the top-left, so that a client decoding the output
// can read back which source frame each output picture is (tests use it to prove that no
// frame is ever sent twice).
//
// Thread-safety: pure functions on the caller's buffers.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "core/detection.h"
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

// Draws the "signal lost" card: the last picture dimmed, a banner and the cause.
void draw_signal_lost(uint8_t* bgr, int width, int height, int stride, const std::string& stream,
                      Duration lost_for, const std::string& cause);

// Sequence stamp: 32 blocks (24 bits of sequence + 8 check bits), each `block` pixels square,
// where block = max(4, width / 40) rounded down to an even number.
void stamp_sequence(uint8_t* bgr, int width, int height, int stride, uint64_t sequence);
// Reads it back from a luma (GRAY8 / Y plane) picture; nullopt when the check bits fail.
std::optional<uint64_t> read_sequence(const uint8_t* luma, int width, int height, int stride);

// HH:MM:SS.mmm local wall-clock time of a SteadyClock timestamp.
std::string format_wall_time(Timestamp steady);

}  // namespace orion::media
