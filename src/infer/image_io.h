// Still images in and out of the inference module, for `orion detect` and tests: load a file
// into a BGR24 Frame, write a frame with its detections drawn, and detections as JSON.
// (Live video is drawn by the media module's compositor, not here.)
//
// Thread-safety: pure functions, thread-safe.
#pragma once

#include <string>
#include <vector>

#include "core/detection.h"
#include "core/frame.h"
#include "core/result.h"

namespace orion::infer {

// Decodes an image file (JPEG, PNG, ...) into a frozen BGR24 frame on the heap.
// Error codes: "image.not_found", "image.unreadable" (not an image OpenCV can decode).
Result<FramePtr> load_image(const std::string& path);

// Writes `frame` with boxes, class names and scores drawn to `path` (format from the
// extension). Error codes: "image.unsupported_frame", "image.write_failed".
Status write_annotated_image(const std::string& path, const Frame& frame,
                             const std::vector<Detection>& detections);

// The detections as a JSON array of {"class_id","class_name","score","box":[x1,y1,x2,y2]}.
std::string detections_to_json(const std::vector<Detection>& detections, int indent = 2);

}  // namespace orion::infer
