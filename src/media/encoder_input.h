// EncoderInput: where the compositor hands each finished picture. The RTSP output
// (StreamOutput) implements it; tests and benchmarks may implement it too.
//
// A picture comes in the layout the compositor drew it in: the decoder's I420 or NV12 (the
// video path keeps it end to end, ADR 0080) or BGR24 (signal-lost cards, frames published in
// BGR by tests). The encoder takes I420: I420 is copied, NV12's chroma split, BGR converted.
//
// Thread-safety: implementations say; StreamOutput's submit is meant for one producer thread.
#pragma once

#include <cstdint>

#include "colour/convert.h"
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

// A picture's planes, borrowed for the duration of the call (colour/convert.h).
using Picture = colour::ImageView;

// A BGR image as a Picture.
inline Picture picture_of(const BgrImage& image) {
  Picture p;
  p.format = PixelFormat::kBGR24;
  p.width = image.width;
  p.height = image.height;
  p.planes[0] = image.data;
  p.strides[0] = image.stride;
  return p;
}

class EncoderInput {
 public:
  virtual ~EncoderInput() = default;
  // Encodes one picture shown at `pts` (strictly increasing) for `duration`. Returns the time
  // at which the picture was handed to the encoder (pixels converted and queued).
  // Errors: "output.bad_size" (odd or zero size), "output.encoder" (the encoder failed, or the
  // picture's format is not BGR24, I420 or NV12).
  virtual Result<Timestamp> submit(const Picture& picture, Duration pts, Duration duration) = 0;
  // submit() with the identity of the camera frame the picture was drawn on (nullptr: a
  // synthetic picture, such as the signal-lost card), for outputs that pass it on with the
  // encoded picture (StreamOutput: the live view's frame identity). Default: submit().
  virtual Result<Timestamp> submit_frame(const Picture& picture, Duration pts, Duration duration,
                                         const FrameIdentity* identity) {
    (void)identity;
    return submit(picture, pts, duration);
  }
  // submit_frame() of a finished, frozen picture the output may keep a reference to instead of
  // copying its pixels (the caller never writes it again). Default: submit_frame() of its view.
  virtual Result<Timestamp> submit_picture(const FramePtr& picture, Duration pts, Duration duration,
                                           const FrameIdentity* identity) {
    return submit_frame(colour::view_of(*picture), pts, duration, identity);
  }
};

}  // namespace orion::media
