// Decodes a fragmented MP4 (init segment + media segments, as the live view sends them) with
// GStreamer: appsrc ! qtdemux ! h264parse ! avdec_h264 ! appsink. Tests and benchmarks.
// Thread-safety: thread-safe (a pipeline of its own per call).
#pragma once

#include <string>

namespace orion::media::testing {

struct DecodedVideo {
  int pictures = 0;           // decoded pictures
  int width = 0, height = 0;  // of the last one
  std::string error;          // GStreamer's error, "" when none
};

DecodedVideo decode_fmp4(const std::string& bytes);

}  // namespace orion::media::testing
