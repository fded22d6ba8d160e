// JPEG encoding of a BGR picture, for snapshots (the engine's media endpoint). OpenCV's
// imgcodecs (libjpeg) does the work; this header keeps OpenCV out of its callers.
//
// Cost: one full encode per call on the calling thread (never the video path: the media
// endpoint encodes on its HTTP worker threads, from a picture the compositor shares).
//
// Thread-safety: a pure function, thread-safe.
#pragma once

#include <string>

#include "core/result.h"
#include "media/encoder_input.h"

namespace orion::media {

inline constexpr int kDefaultJpegQuality = 85;

// The JPEG file of `image` at `quality` 1..100 (libjpeg's defaults otherwise). `image` is read
// only. Errors: "jpeg.bad_image" (no data, a side that is not positive, a stride shorter than width
// * 3), "jpeg.bad_quality" (outside 1..100), "jpeg.failed" (the encoder refused; the message says
// why).
Result<std::string> encode_jpeg(const BgrImage& image, int quality = kDefaultJpegQuality);
// The same from a picture in any layout colour::to_bgr reads (I420, NV12, BGR24, ...): a
// non-BGR picture is converted to BGR first (a buffer per call; snapshots only). Errors as
// above, plus the conversion's ("colour.*", message naming the format).
Result<std::string> encode_jpeg(const Picture& picture, int quality = kDefaultJpegQuality);

}  // namespace orion::media
