// Letterbox geometry of the GPU detector: the same rules as src/infer's make_letterbox (the CPU
// backend), so that both backends see the same network input. kCenter = Ultralytics (YOLOv8:
// round(w·r), centred with ultralytics' ±0.1 rounding), kTopLeft = YOLOX (int(w·r), top-left).
//
// Thread-safety: pure functions and value types.
#pragma once

#include "core/detection.h"

namespace orion::gpu {

enum class Align { kCenter, kTopLeft };

struct Letterbox {
  int src_w = 0, src_h = 0;
  int dst_w = 0, dst_h = 0;
  float scale = 1;
  int resized_w = 0, resized_h = 0;
  int pad_left = 0, pad_top = 0;

  // A box in network-input pixels back to source pixels, clipped to the source image.
  Box to_source(const Box& b) const;
};

Letterbox make_letterbox(int src_w, int src_h, int dst_w, int dst_h, Align align);

}  // namespace orion::gpu
