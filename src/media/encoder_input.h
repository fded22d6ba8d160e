// EncoderInput: where the compositor hands each finished picture. The RTSP output
// (StreamOutput) implements it; tests and benchmarks may implement it too.
//
// Thread-safety: implementations say; StreamOutput's submit is meant for one producer thread.
#pragma once

#include <cstdint>

#include "core/frame.h"
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
  // submit() with the identity of the camera frame the picture was drawn on (nullptr: a
  // synthetic picture, such as the signal-lost card), for outputs that pass it on with the
  // encoded picture (StreamOutput: the live view's frame identity). Default: submit().
  virtual Result<Timestamp> submit_frame(const BgrImage& image, Duration pts, Duration duration,
                                         const FrameIdentity* identity) {
    (void)identity;
    return submit(image, pts, duration);
  }
};

}  // namespace orion::media
