// CUDA kernels of the GPU detector (src/gpu/kernels.cu): pre-processing (BGR24/RGB24/NV12 in
// device memory -> letterboxed, normalised NCHW planes), YOLOv8/YOLOX output decoding and
// class-wise greedy NMS, all on the GPU. This header is CUDA-free (streams are passed as
// void*, a cudaStream_t) so that C++ code compiled by the host compiler can call them.
//
// Every launcher only enqueues work on `stream` (asynchronous); pointers are device memory
// unless named host_*. Errors of the launch are returned as a CUDA error string (empty = ok).
// Thread-safety: launchers are reentrant; callers serialise the use of one buffer set.
#pragma once

#include <cstdint>
#include <string>

namespace orion::gpu::kernels {

enum class SrcFormat : int { kBGR24 = 0, kRGB24 = 1, kNV12 = 2 };

struct PreprocessJob {
  const uint8_t* plane0 = nullptr;  // packed pixels (BGR/RGB) or the Y plane (NV12)
  const uint8_t* plane1 = nullptr;  // NV12: the interleaved UV plane
  int stride0 = 0, stride1 = 0;     // bytes per row
  SrcFormat format = SrcFormat::kBGR24;
  int src_w = 0, src_h = 0;
  int resized_w = 0, resized_h = 0;  // letterbox (letterbox.h)
  int pad_left = 0, pad_top = 0;
};

struct PreprocessParams {
  int dst_w = 0, dst_h = 0;
  bool rgb = true;     // channel order of the network: RGB (YOLOv8) or BGR (YOLOX)
  float scale = 1.0f;  // multiplies 0..255 (YOLOv8 1/255, YOLOX 1)
  float pad = 114.0f;  // padding value before scaling
  bool half = true;    // dst is FP16 (else FP32)
};

// Writes one image (3 × dst_h × dst_w) at `dst` (FP16 or FP32 per params.half): bilinear
// resampling (OpenCV INTER_LINEAR's half-pixel rule) inside the letterbox, `pad` outside.
// NV12 is converted with BT.601 limited range (what decoders output).
std::string preprocess(const PreprocessJob& job, const PreprocessParams& params, void* dst,
                       void* stream);

// One candidate box in network-input pixels.
struct Candidate {
  float x1, y1, x2, y2, score;
  int class_id;
};

enum class Layout : int {
  kYolov8 = 0,  // [B, 4 + classes, anchors]: cx, cy, w, h (pixels), class scores (sigmoid)
  kYolox = 1,   // [B, anchors, 5 + classes]: raw grid offsets, objectness, class scores
};

struct DecodeParams {
  Layout layout = Layout::kYolov8;
  int batch = 0, anchors = 0, classes = 0;
  int input_w = 0, input_h = 0;  // YOLOX grids (strides 8, 16, 32)
  float score_threshold = 0.25f;
  const uint8_t* class_mask = nullptr;  // device, one byte per class (non-zero = keep); or null
  int capacity = 4096;                  // candidates kept per image (more are counted, dropped)
};

// out (FP32 network output) -> candidates[b * capacity + i], counts[b] (may exceed capacity:
// then only `capacity` were stored). counts must be zeroed first (this launcher does it).
std::string decode(const float* out, const DecodeParams& params, Candidate* candidates, int* counts,
                   void* stream);

// Class-wise greedy NMS per image: sorts each image's candidates by score (descending) and
// keeps a box unless a kept box of the same class overlaps it with IoU > iou_threshold; at
// most max_det per image, into kept[b * max_det + k] and kept_counts[b]. capacity <= 4096.
std::string nms(const Candidate* candidates, const int* counts, int batch, int capacity,
                float iou_threshold, int max_det, Candidate* kept, int* kept_counts, void* stream);

}  // namespace orion::gpu::kernels
