// Detection results: what a detector finds on one frame, tagged with that frame's identity so
// that the output can draw it on later frames and say how old it is.
//
// Thread-safety: value types, thread-compatible.
#pragma once

#include <string>
#include <vector>

#include "core/frame.h"
#include "core/time.h"

namespace orion {

// Axis-aligned box in pixels of the frame the detection was computed on: [x1,x2) × [y1,y2).
struct Box {
  float x1 = 0, y1 = 0, x2 = 0, y2 = 0;
  float width() const { return x2 - x1; }
  float height() const { return y2 - y1; }
  float area() const { return width() > 0 && height() > 0 ? width() * height() : 0.0f; }
  bool operator==(const Box&) const = default;
};

// Intersection over union of two boxes; 0 when either is empty.
float iou(const Box& a, const Box& b);

struct Detection {
  int class_id = -1;
  std::string class_name;
  float score = 0;
  Box box;
};

// The result of one pipeline (model on a stream) on one frame.
struct DetectionResult {
  std::string pipeline;        // pipeline name
  FrameIdentity frame;         // the frame the detections were computed on
  std::vector<Detection> detections;
  Timestamp done_time;         // SteadyClock time at which the result was ready
  Duration inference_time;     // time spent in detect() for this frame
};

}  // namespace orion
