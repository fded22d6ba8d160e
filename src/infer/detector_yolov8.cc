// Kind "yolov8": Ultralytics YOLOv8 / YOLO11-style ONNX exports on OpenCV DNN.
// Input RGB / 255, letterbox 114 centred (default 640×640); output [1, 4 + C, N] (or
// [1, N, 4 + C]): cx, cy, w, h in input pixels then C sigmoid class scores, no objectness.
#include "infer/registry.h"
#include "infer/yolo_dnn.h"

namespace orion::infer {
namespace {

Result<OutputLayout> yolov8_layout(const std::vector<int>& dims, int input_w, int input_h) {
  const int64_t anchors = grid_anchor_count(input_w, input_h);
  if (dims.size() != 3 || dims[0] != 1) {
    return make_error("model.bad_output_shape", "the output must have 3 dimensions, batch 1");
  }
  OutputLayout l;
  l.anchors = anchors;
  if (dims[2] == anchors && dims[1] > 4) {
    l.attrs = dims[1];
  } else if (dims[1] == anchors && dims[2] > 4) {
    l.attrs = dims[2];
    l.transposed = true;
  } else {
    return make_error("model.bad_output_shape",
                      "neither dimension equals the " + std::to_string(anchors) +
                          " anchors of the 8/16/32-stride grids with 4 box values + classes");
  }
  l.num_classes = static_cast<int>(l.attrs - 4);
  return l;
}

// Decoded YOLOv8 boxes are anchored to grid points spread over the input, so on any input the
// median box centre is near the middle; undecoded offsets (YOLOX) are near 0.
std::string yolov8_check_values(const float* data, const OutputLayout& l, int input_w,
                                int /*input_h*/) {
  const float cx = l.transposed ? strided_median(data, l.anchors, l.attrs, 0)
                                : strided_median(data, l.anchors, 1, 0);
  if (cx < 0.25f * static_cast<float>(input_w) || cx > 0.75f * static_cast<float>(input_w)) {
    return "its box centres do not spread over the " + std::to_string(input_w) +
           "-pixel-wide input (median x centre " + std::to_string(cx) + ")";
  }
  return "";
}

void yolov8_decode(const float* data, const OutputLayout& l, int /*input_w*/, int /*input_h*/,
                   float score_threshold, std::span<const uint8_t> mask,
                   std::vector<Candidate>& out) {
  decode_yolov8(data, l.anchors, l.attrs, l.transposed, score_threshold, mask, out);
}

const YoloFamily kYolov8{
    .kind = "yolov8",
    .default_input = 640,
    .swap_rb = true,
    .scale = 1.0f / 255.0f,
    .align = LetterboxAlign::kCenter,
    .expected_output = "[1, 4+C, N] or [1, N, 4+C], N = anchors of the input size",
    .layout = &yolov8_layout,
    .check_values = &yolov8_check_values,
    .other_kind = "yolox",
    .decode = &yolov8_decode,
};

Result<DetectorPtr> make_yolov8(const DetectorConfig& config) {
  return make_yolo_detector(config, kYolov8);
}

}  // namespace
}  // namespace orion::infer

ORION_REGISTER_DETECTOR(yolov8,
                        {.kind = "yolov8",
                         .description = "Ultralytics YOLOv8/YOLO11 ONNX on OpenCV DNN (CPU)",
                         .needs_model_file = true},
                        &orion::infer::make_yolov8);
