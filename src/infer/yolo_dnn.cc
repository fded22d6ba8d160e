#include "infer/yolo_dnn.h"

#include <algorithm>
#include <filesystem>
#include <opencv2/core.hpp>
#include <opencv2/dnn.hpp>
#include <opencv2/imgproc.hpp>

#include "core/clock.h"
#include "infer/class_names.h"
#include "infer/onnx_info.h"
#include "infer/opencv_frame.h"

namespace orion::infer {

std::string dims_to_string(const std::vector<int>& dims) {
  std::string s = "[";
  for (size_t i = 0; i < dims.size(); ++i) s += (i ? ", " : "") + std::to_string(dims[i]);
  return s + "]";
}

float strided_median(const float* values, int64_t count, int64_t stride, int64_t offset) {
  std::vector<float> v;
  v.reserve(static_cast<size_t>(count));
  for (int64_t i = 0; i < count; ++i) v.push_back(values[i * stride + offset]);
  if (v.empty()) return 0;
  auto mid = v.begin() + static_cast<std::ptrdiff_t>(v.size() / 2);
  std::nth_element(v.begin(), mid, v.end());
  return *mid;
}

namespace {

constexpr size_t kMaxDetections = 300;

// The first line of an OpenCV exception, without the "OpenCV(4.6.0) /path/file.cpp:123: "
// prefix noise kept in full: users paste it into bug reports.
std::string cv_message(const cv::Exception& e) {
  std::string m = e.what();
  while (!m.empty() && (m.back() == '\n' || m.back() == ' ')) m.pop_back();
  return m;
}

Error quantized_model_error(const std::string& path, const OnnxInfo& info) {
  std::string ops;
  for (const char* op : {"DynamicQuantizeLinear", "ConvInteger", "MatMulInteger"}) {
    if (info.op_types.count(op)) ops += (ops.empty() ? "" : ", ") + std::string(op);
  }
  namespace fs = std::filesystem;
  const fs::path p(path);
  std::string stem = p.stem().string();
  if (auto at = stem.find("_int8"); at != std::string::npos) stem.resize(at);
  const fs::path fp32 = p.parent_path() / (stem + ".onnx");
  std::error_code ec;
  std::string hint = "use the fp32 (float32) export of the same model instead";
  if (fp32 != p) {
    hint += ", e.g. " + fp32.filename().string();
    if (fs::exists(fp32, ec)) hint += " (found next to it: " + fp32.string() + ")";
  }
  return make_error("model.unsupported_quantization",
                    "model file '" + path + "' is a dynamically quantized int8 model (it uses " +
                        ops +
                        "): OpenCV 4.6 cannot import dynamically quantized int8 models (they are "
                        "for ONNX Runtime); " +
                        hint);
}

bool is_dynamic_int8(const OnnxInfo& info) {
  return info.op_types.count("DynamicQuantizeLinear") || info.op_types.count("ConvInteger") ||
         info.op_types.count("MatMulInteger");
}

void apply_threads(int threads) {
  if (threads > 0 && cv::getNumThreads() != threads) cv::setNumThreads(threads);
}

class YoloDnnDetector final : public Detector {
 public:
  YoloDnnDetector(const DetectorConfig& config, const YoloFamily& family)
      : config_(config), family_(family) {}

  Status load() {
    std::vector<char> bytes;
    auto onnx = read_onnx_file(config_.model_path, bytes);
    if (!onnx) return onnx.error();
    if (is_dynamic_int8(*onnx)) return quantized_model_error(config_.model_path, *onnx);
    if (auto st = decide_input_size(*onnx); !st) return st;

    apply_threads(config_.threads);
    try {
      net_ = cv::dnn::readNetFromONNX(bytes.data(), bytes.size());
    } catch (const cv::Exception& e) {
      return make_error("model.import_failed", "OpenCV 4.6 could not import model file '" +
                                                   config_.model_path + "': " + cv_message(e));
    }
    if (net_.empty()) {
      return make_error("model.import_failed", "OpenCV 4.6 imported no network from model file '" +
                                                   config_.model_path + "'");
    }
    net_.setPreferableBackend(cv::dnn::DNN_BACKEND_OPENCV);
    net_.setPreferableTarget(cv::dnn::DNN_TARGET_CPU);
    out_name_ = onnx->outputs.front().name;

    // One inference on a blank input: checks that OpenCV can run the graph, finds the output
    // layout, and warms the network up.
    blob_.create(std::vector<int>{1, 3, in_h_, in_w_}, CV_32F);
    blob_.setTo(cv::Scalar(114.0 * family_.scale));
    cv::Mat out;
    try {
      net_.setInput(blob_);
      out = net_.forward();
    } catch (const cv::Exception& e) {
      return make_error("model.import_failed", "OpenCV 4.6 imported model file '" +
                                                   config_.model_path +
                                                   "' but cannot run it: " + cv_message(e));
    }
    std::vector<int> dims(out.size.p, out.size.p + out.dims);
    if (out.type() != CV_32F) {
      return make_error("model.bad_output_shape",
                        "model file '" + config_.model_path + "' has a non-float32 output");
    }
    auto layout = family_.layout(dims, in_w_, in_h_);
    if (!layout) {
      return make_error("model.bad_output_shape",
                        "model file '" + config_.model_path + "' has output '" + out_name_ +
                            "' of shape " + dims_to_string(dims) + ", which does not fit a " +
                            family_.kind + " model with input " + std::to_string(in_w_) + "x" +
                            std::to_string(in_h_) + " (expected " + family_.expected_output +
                            "): " + layout.error().message);
    }
    layout_ = *layout;
    if (std::string why = family_.check_values(out.ptr<float>(), layout_, in_w_, in_h_);
        !why.empty()) {
      return make_error("model.wrong_kind",
                        "model file '" + config_.model_path + "' does not look like a " +
                            family_.kind + " model: " + why + "; is it a " + family_.other_kind +
                            " model? (try " + family_.other_kind + ":" + config_.model_path + ")");
    }

    auto names = resolve_class_names(config_.class_names, config_.class_names_path, onnx->metadata,
                                     layout_.num_classes, config_.model_path);
    if (!names) return names.error();
    auto mask = class_mask(config_.classes, names->names);
    if (!mask) return mask.error();
    mask_ = std::move(*mask);

    info_.kind = family_.kind;
    info_.model_path = config_.model_path;
    info_.input_width = in_w_;
    info_.input_height = in_h_;
    info_.class_names = std::move(names->names);
    info_.class_names_source = names->source;
    canvas_ = cv::Mat(in_h_, in_w_, CV_8UC3, cv::Scalar::all(114));
    has_input_ = false;
    return {};
  }

  const DetectorInfo& info() const override { return info_; }

  Status warm_up(int iterations) override {
    blob_.setTo(cv::Scalar(114.0 * family_.scale));
    for (int i = 0; i < iterations; ++i) {
      if (auto st = run_network(); !st) return st;
    }
    has_input_ = false;
    return {};
  }

  Result<std::vector<Detection>> detect(const Frame& frame) override {
    const Clock& clock = SteadyClock::instance();
    const Timestamp t0 = clock.now();
    Letterbox lb;
    try {
      auto bgr = frame_to_bgr(frame, scratch_, "detector.unsupported_frame");
      if (!bgr) return bgr.error();
      lb = preprocess(*bgr);
    } catch (const cv::Exception& e) {
      return make_error("detector.inference_failed", "preprocessing failed: " + cv_message(e));
    }
    has_input_ = true;
    const Timestamp t1 = clock.now();
    if (auto st = run_network(); !st) return st.error();
    const Timestamp t2 = clock.now();

    std::vector<Candidate> candidates;
    family_.decode(out_.ptr<float>(), layout_, in_w_, in_h_, config_.score_threshold, mask_,
                   candidates);
    const std::vector<Candidate> kept =
        nms_per_class(std::move(candidates), config_.iou_threshold, kMaxDetections);
    std::vector<Detection> dets;
    dets.reserve(kept.size());
    for (const Candidate& c : kept) {
      Detection d;
      d.class_id = c.class_id;
      d.class_name = info_.class_names[static_cast<size_t>(c.class_id)];
      d.score = c.score;
      d.box = lb.to_source(c.box);
      dets.push_back(std::move(d));
    }
    const Timestamp t3 = clock.now();
    timings_ = {t1 - t0, t2 - t1, t3 - t2};
    return dets;
  }

  DetectorTimings last_timings() const override { return timings_; }

  Status forward_only() override {
    if (!has_input_) return make_error("detector.no_input", "forward_only() before any detect()");
    return run_network();
  }

 private:
  Status decide_input_size(const OnnxInfo& onnx) {
    const auto& dims = onnx.inputs.front().dims;
    if (dims.size() != 4 || (dims[1] != 3 && dims[1] != -1)) {
      std::vector<int> d(dims.begin(), dims.end());
      return make_error("model.bad_input_shape", "model file '" + config_.model_path +
                                                     "' has input '" + onnx.inputs.front().name +
                                                     "' of shape " + dims_to_string(d) + "; a " +
                                                     family_.kind + " model takes [1, 3, H, W]");
    }
    const int model_h = static_cast<int>(dims[2]), model_w = static_cast<int>(dims[3]);
    in_w_ = config_.input_width > 0 ? config_.input_width
                                    : (model_w > 0 ? model_w : family_.default_input);
    in_h_ = config_.input_height > 0 ? config_.input_height
                                     : (model_h > 0 ? model_h : family_.default_input);
    if ((model_w > 0 && model_w != in_w_) || (model_h > 0 && model_h != in_h_)) {
      return make_error("model.input_size_mismatch",
                        "configured input size " + std::to_string(in_w_) + "x" +
                            std::to_string(in_h_) + " contradicts model file '" +
                            config_.model_path + "', whose input is fixed at " +
                            std::to_string(model_w) + "x" + std::to_string(model_h));
    }
    if (in_w_ % 32 != 0 || in_h_ % 32 != 0) {
      return make_error("detector.bad_config", "input size " + std::to_string(in_w_) + "x" +
                                                   std::to_string(in_h_) +
                                                   " must be a multiple of 32");
    }
    return {};
  }

  // Letterbox into canvas_ (114 padding), then canvas_ -> NCHW float blob_ with channel order
  // and scale of the family, in one pass.
  Letterbox preprocess(const cv::Mat& bgr) {
    const Letterbox lb = make_letterbox(bgr.cols, bgr.rows, in_w_, in_h_, family_.align);
    const cv::Rect roi(lb.pad_left, lb.pad_top, lb.resized_w, lb.resized_h);
    if (roi != canvas_roi_) {
      canvas_.setTo(cv::Scalar::all(114));
      canvas_roi_ = roi;
    }
    cv::Mat dst = canvas_(roi);
    if (bgr.cols == lb.resized_w && bgr.rows == lb.resized_h) {
      bgr.copyTo(dst);
    } else {
      cv::resize(bgr, dst, dst.size(), 0, 0, cv::INTER_LINEAR);
    }
    const size_t plane = static_cast<size_t>(in_w_) * static_cast<size_t>(in_h_);
    float* p0 = blob_.ptr<float>();
    float* c_r = p0 + (family_.swap_rb ? 0 : 2) * plane;  // where R goes
    float* c_g = p0 + plane;
    float* c_b = p0 + (family_.swap_rb ? 2 : 0) * plane;  // where B goes
    const float s = family_.scale;
    for (int y = 0; y < in_h_; ++y) {
      const uint8_t* src = canvas_.ptr<uint8_t>(y);
      const size_t row = static_cast<size_t>(y) * static_cast<size_t>(in_w_);
      for (int x = 0; x < in_w_; ++x) {
        c_b[row + static_cast<size_t>(x)] = static_cast<float>(src[3 * x]) * s;
        c_g[row + static_cast<size_t>(x)] = static_cast<float>(src[3 * x + 1]) * s;
        c_r[row + static_cast<size_t>(x)] = static_cast<float>(src[3 * x + 2]) * s;
      }
    }
    return lb;
  }

  Status run_network() {
    apply_threads(config_.threads);
    try {
      net_.setInput(blob_);
      out_ = net_.forward();
    } catch (const cv::Exception& e) {
      return make_error("detector.inference_failed", "forward pass failed: " + cv_message(e));
    }
    const size_t expected = static_cast<size_t>(layout_.anchors * layout_.attrs);
    if (out_.type() != CV_32F || out_.total() != expected || !out_.isContinuous()) {
      return make_error("detector.inference_failed",
                        "forward pass returned an output of unexpected size");
    }
    return {};
  }

  DetectorConfig config_;
  YoloFamily family_;
  DetectorInfo info_;
  cv::dnn::Net net_;
  std::string out_name_;
  OutputLayout layout_;
  int in_w_ = 0, in_h_ = 0;
  std::vector<uint8_t> mask_;

  // Per-call buffers, kept to avoid allocations.
  cv::Mat scratch_;  // converted frame (non-BGR inputs)
  cv::Mat canvas_;   // letterboxed BGR image, in_h_ × in_w_
  cv::Rect canvas_roi_;
  cv::Mat blob_;  // [1, 3, in_h_, in_w_] float
  cv::Mat out_;   // network output
  bool has_input_ = false;
  DetectorTimings timings_;
};

}  // namespace

Result<DetectorPtr> make_yolo_detector(const DetectorConfig& config, const YoloFamily& family) {
  auto d = std::make_unique<YoloDnnDetector>(config, family);
  try {
    if (auto st = d->load(); !st) return st.error();
  } catch (const cv::Exception& e) {
    return make_error("model.import_failed", "OpenCV failed while loading model file '" +
                                                 config.model_path + "': " + cv_message(e));
  } catch (const std::exception& e) {
    return make_error("model.import_failed",
                      "loading model file '" + config.model_path + "' failed: " + e.what());
  }
  return DetectorPtr(std::move(d));
}

}  // namespace orion::infer
