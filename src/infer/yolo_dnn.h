// The OpenCV DNN detector shared by the YOLO families (private to src/infer). A family file
// (detector_yolov8.cc, detector_yolox.cc) describes its preprocessing and output layout in a
// YoloFamily and registers a factory that calls make_yolo_detector().
//
// Loading: read_onnx_file() checks the file and reads its shapes and metadata; models using
// ONNX Runtime's dynamic int8 operators are refused with a pointer to the fp32 model;
// cv::dnn::readNetFromONNX() imports the bytes; one inference on a blank input then checks the
// output shape against the family (and warms the network up).
#pragma once

#include <span>
#include <string>
#include <vector>

#include "core/result.h"
#include "infer/detector.h"
#include "infer/postprocess.h"

namespace orion::infer {

// How the output tensor is laid out, decided once at load.
struct OutputLayout {
  int64_t anchors = 0;
  int64_t attrs = 0;  // values per anchor (4 + C for yolov8, 5 + C for yolox)
  int num_classes = 0;
  bool transposed = false;  // yolov8 only: [1, N, 4 + C] instead of [1, 4 + C, N]
};

struct YoloFamily {
  const char* kind;
  int default_input = 640;
  bool swap_rb = false;  // true: network wants RGB
  float scale = 1.0f;    // pixel value multiplier (1/255 or 1)
  LetterboxAlign align = LetterboxAlign::kCenter;
  const char* expected_output;  // for error messages, e.g. "[1, 4+C, N] or [1, N, 4+C]"
  // Decides the layout from the output dims (batch first) and the input size; an Error with
  // code "model.bad_output_shape" when they fit no layout of the family.
  Result<OutputLayout> (*layout)(const std::vector<int>& dims, int input_w, int input_h);
  // Looks at the values of the validation inference (blank input) and returns "" when they
  // look like this family's output, else why not: a model of the other family can have an
  // output shape that fits (yolox_nano [1,3549,85] reads as a yolov8 [1,N,4+81]).
  std::string (*check_values)(const float* data, const OutputLayout& layout, int input_w,
                              int input_h);
  const char* other_kind;  // suggested in the error when check_values fails
  // Decodes the output into candidates in network-input pixels.
  void (*decode)(const float* data, const OutputLayout& layout, int input_w, int input_h,
                 float score_threshold, std::span<const uint8_t> class_mask,
                 std::vector<Candidate>& out);
};

Result<DetectorPtr> make_yolo_detector(const DetectorConfig& config, const YoloFamily& family);

// Median of values[i * stride + offset] for i in [0, count) (for check_values).
float strided_median(const float* values, int64_t count, int64_t stride, int64_t offset);

// "[1, 84, 8400]" for error messages.
std::string dims_to_string(const std::vector<int>& dims);

}  // namespace orion::infer
