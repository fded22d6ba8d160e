// Geometry and decoding shared by the YOLO backends, free of OpenCV so that the maths can be
// tested on synthetic tensors (private to src/infer).
//
//   Letterbox  - how a source image maps into the network input (scale, padding) and back.
//   decode_*   - network output tensor -> candidate boxes in network-input pixels.
//   nms        - class-wise greedy non-maximum suppression (OpenCV 4.6 has no NMSBoxesBatched).
//
// Thread-safety: pure functions, thread-safe.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "core/detection.h"

namespace orion::infer {

enum class LetterboxAlign {
  kCenter,   // Ultralytics: the image is centred, padding split between both sides
  kTopLeft,  // YOLOX: the image at the top-left, padding at the bottom and right
};

// Source image (src_w × src_h) scaled by `scale` to resized_w × resized_h and placed at
// (pad_left, pad_top) in a dst_w × dst_h canvas filled with 114.
struct Letterbox {
  int src_w = 0, src_h = 0;
  int dst_w = 0, dst_h = 0;
  float scale = 1;
  int resized_w = 0, resized_h = 0;
  int pad_left = 0, pad_top = 0;

  // A box in network-input pixels back to source pixels, clipped to the source image.
  Box to_source(const Box& b) const;
};

// The letterbox Ultralytics (kCenter: round(w·r), centred with the +-0.1 rounding of
// ultralytics' LetterBox) or YOLOX (kTopLeft: int(w·r)) computes.
Letterbox make_letterbox(int src_w, int src_h, int dst_w, int dst_h, LetterboxAlign align);

// One decoded box before NMS, in network-input pixels.
struct Candidate {
  int class_id = -1;
  float score = 0;
  Box box;
};

// Number of anchor points of a grid detector with strides 8, 16, 32 on a w × h input
// (YOLOv8 640×640: 8400; YOLOX 416×416: 3549).
int64_t grid_anchor_count(int input_w, int input_h);

// `class_mask` (may be empty = all) has one entry per class: keep when non-zero.
//
// YOLOv8 output: `attrs` = 4 + classes rows of `anchors` values when !transposed ([1,84,N]),
// or `anchors` rows of `attrs` values when transposed ([1,N,84]). Per anchor: cx, cy, w, h,
// then class scores (already sigmoid). Score = best class score.
void decode_yolov8(const float* data, int64_t anchors, int64_t attrs, bool transposed,
                   float score_threshold, std::span<const uint8_t> class_mask,
                   std::vector<Candidate>& out);

// YOLOX output [1, anchors, 5 + classes], not decoded: anchors run over the 8-, 16- then
// 32-stride grids, each row-major; x = (p0 + gx)·s, y = (p1 + gy)·s, w = exp(p2)·s,
// h = exp(p3)·s, score = p4 · p(5 + c) (both already sigmoid). `anchors` must equal
// grid_anchor_count(input_w, input_h).
void decode_yolox(const float* data, int64_t anchors, int64_t attrs, int input_w, int input_h,
                  float score_threshold, std::span<const uint8_t> class_mask,
                  std::vector<Candidate>& out);

// Class-wise greedy NMS: within each class, a box is dropped when its IoU with a kept box of
// higher score is > iou_threshold. Returns the kept candidates sorted by descending score
// (ties: lower class id, then earlier candidate first), at most `max_detections`.
std::vector<Candidate> nms_per_class(std::vector<Candidate> candidates, float iou_threshold,
                                     size_t max_detections = 300);

}  // namespace orion::infer
