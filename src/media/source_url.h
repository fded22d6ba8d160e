// SourceSpec: what a stream's `url` means, parsed and validated before any pipeline exists.
//
//   rtsp://host[:port]/path, rtsps://...   a network camera (kind kRtsp; rtsps: over TLS)
//   file:///abs/path.mp4 or a plain path    a video file, played at its native rate (kFile)
//   v4l2:///dev/videoN                      a local capture device (kV4l2)
//   test://PATTERN?width=W&height=H&fps=F   a live test pattern (kTest); PATTERN is a
//                                           videotestsrc pattern name (smpte, ball, snow, ...)
//
// Plain relative paths are taken as they are; resolving them against a config file's folder
// is the config loader's job. Thread-safety: pure functions, value types.
#pragma once

#include <string>
#include <string_view>

#include "core/result.h"

namespace orion::media {

enum class SourceKind { kRtsp, kFile, kV4l2, kTest };
std::string_view to_string(SourceKind kind);

struct SourceSpec {
  SourceKind kind = SourceKind::kTest;
  std::string location;  // rtsp(s) URL, file path, device path, or test pattern name
  bool tls = false;      // kRtsp only: rtsps:// (RTSP and its interleaved media over TLS)
  int width = 0;         // kTest only
  int height = 0;        // kTest only
  int fps = 0;           // kTest only (frames per second)
};

// Error code "media.bad_url", message naming the url and what is wrong with it.
Result<SourceSpec> parse_source_url(std::string_view url);

}  // namespace orion::media
