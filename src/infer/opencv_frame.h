// Frames as OpenCV images (private to src/infer; the only place that maps orion::Frame to
// cv::Mat).
//
// Thread-safety: pure functions, thread-safe.
#pragma once

#include <opencv2/core.hpp>
#include <string>

#include "core/frame.h"
#include "core/result.h"

namespace orion::infer {

// A BGR view of `frame`. BGR24 frames are wrapped in place (no copy; the Mat is valid while
// the frame is, and must not be written); RGB24, GRAY8, I420 and NV12 are converted into
// `scratch` (by colour/convert.h, the one home of the conversions), which the returned Mat
// then refers to.
// Error code `error_code` (e.g. "detector.unsupported_frame") for device memory, an unknown
// format, an empty frame or a buffer smaller than the layout.
Result<cv::Mat> frame_to_bgr(const Frame& frame, cv::Mat& scratch, const std::string& error_code);

// A single-channel luminance view of `frame` (Y plane of YUV frames in place, GRAY8 in place,
// BGR/RGB converted into `scratch`). Same errors as frame_to_bgr.
Result<cv::Mat> frame_to_gray(const Frame& frame, cv::Mat& scratch, const std::string& error_code);

}  // namespace orion::infer
