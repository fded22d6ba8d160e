// Kind "yolox": Megvii YOLOX ONNX exports (undecoded head) on OpenCV DNN.
// Input BGR 0-255, letterbox 114 at the top-left (default 416×416); output [1, N, 5 + C] with
// grid offsets, log sizes, objectness and class probabilities, decoded here.
#include "infer/registry.h"
#include "infer/yolo_dnn.h"

namespace orion::infer {
namespace {

Result<OutputLayout> yolox_layout(const std::vector<int>& dims, int input_w, int input_h) {
  const int64_t anchors = grid_anchor_count(input_w, input_h);
  if (dims.size() != 3 || dims[0] != 1) {
    return make_error("model.bad_output_shape", "the output must have 3 dimensions, batch 1");
  }
  if (dims[1] != anchors || dims[2] <= 5) {
    return make_error("model.bad_output_shape",
                      "the output must be [1, " + std::to_string(anchors) +
                          ", 5 + classes] (anchors of the 8/16/32-stride grids)");
  }
  OutputLayout l;
  l.anchors = anchors;
  l.attrs = dims[2];
  l.num_classes = static_cast<int>(l.attrs - 5);
  return l;
}

// Undecoded YOLOX outputs hold grid-cell offsets (about 0..1) in the first two values and
// probabilities in the fifth; decoded boxes (YOLOv8 [1,N,4+C]) hold pixels there.
std::string yolox_check_values(const float* data, const OutputLayout& l, int /*input_w*/,
                               int /*input_h*/) {
  const float ox = strided_median(data, l.anchors, l.attrs, 0);
  const float obj = strided_median(data, l.anchors, l.attrs, 4);
  if (ox < -2.0f || ox > 3.0f || obj < 0.0f || obj > 1.0f) {
    return "its values are not undecoded grid offsets and objectness (median x offset " +
           std::to_string(ox) + ", median objectness " + std::to_string(obj) + ")";
  }
  return "";
}

void yolox_decode(const float* data, const OutputLayout& l, int input_w, int input_h,
                  float score_threshold, std::span<const uint8_t> mask,
                  std::vector<Candidate>& out) {
  decode_yolox(data, l.anchors, l.attrs, input_w, input_h, score_threshold, mask, out);
}

const YoloFamily kYolox{
    .kind = "yolox",
    .default_input = 416,
    .swap_rb = false,
    .scale = 1.0f,
    .align = LetterboxAlign::kTopLeft,
    .expected_output = "[1, N, 5+C], N = anchors of the input size",
    .layout = &yolox_layout,
    .check_values = &yolox_check_values,
    .other_kind = "yolov8",
    .decode = &yolox_decode,
};

Result<DetectorPtr> make_yolox(const DetectorConfig& config) {
  return make_yolo_detector(config, kYolox);
}

}  // namespace
}  // namespace orion::infer

ORION_REGISTER_DETECTOR(yolox,
                        {.kind = "yolox",
                         .description = "Megvii YOLOX ONNX (undecoded head) on OpenCV DNN (CPU)",
                         .needs_model_file = true},
                        &orion::infer::make_yolox);
