// EncoderInput: where the compositor hands each finished picture. The RTSP output
// (StreamOutput) implements it; tests and benchmarks may implement it too.
//
// Thread-safety: implementations say; StreamOutput's submit is meant for one producer thread.
#pragma once

#include <cstdint>

#include "core/result.h"
#include "core/time.h"

namespace orion::media {

struct BgrImage {
  const uint8_t* data = nullptr;  // borrowed for the duration of the call
  int width = 0;
  int height = 0;
  int stride = 0;  // bytes per row
};

class EncoderInput {
 public:
  virtual ~EncoderInput() = default;
  // Encodes one picture shown at `pts` (strictly increasing) for `duration`. Returns the time
  // at which the picture was handed to the encoder (pixels converted and queued).
  // Errors: "output.bad_size" (odd or zero size), "output.encoder" (the encoder failed).
  virtual Result<Timestamp> submit(const BgrImage& image, Duration pts, Duration duration) = 0;
};

}  // namespace orion::media
