// Kind "hog": OpenCV's built-in HOG + linear SVM people detector (Dalal-Triggs, 64×128
// window), for machines without a model file. One class, "person". The frame is scaled down
// so that its longest side is at most the configured input size (default 640) first: HOG's
// cost grows with the pixel count and people smaller than the window are missed anyway.
// Score: the SVM margin mapped through a logistic, 1 / (1 + exp(-margin)), so that scores are
// in (0, 1) like the other kinds (a margin of 0, OpenCV's hit threshold, is 0.5).
#include <algorithm>
#include <cmath>
#include <opencv2/core.hpp>
#include <opencv2/imgproc.hpp>
#include <opencv2/objdetect.hpp>

#include "core/clock.h"
#include "infer/class_names.h"
#include "infer/opencv_frame.h"
#include "infer/postprocess.h"
#include "infer/registry.h"

namespace orion::infer {
namespace {

class HogDetector final : public Detector {
 public:
  explicit HogDetector(const DetectorConfig& config) : config_(config) {}

  Status load() {
    if (!config_.model_path.empty()) {
      return make_error("detector.bad_config", "detector kind 'hog' takes no model file (got '" +
                                                   config_.model_path + "')");
    }
    max_side_ = std::max(config_.input_width, config_.input_height);
    if (max_side_ == 0) max_side_ = 640;
    if (max_side_ < 128) {
      return make_error("detector.bad_config",
                        "hog input size must be at least 128 (the detection window is 64x128)");
    }
    std::vector<std::string> names = {"person"};
    std::string source = "generated";
    if (!config_.class_names.empty()) {
      names = {config_.class_names.front()};  // class 0 of the inline names
      source = "inline";
    } else if (!config_.class_names_path.empty()) {
      auto file = read_class_names_file(config_.class_names_path);
      if (!file) return file.error();
      names = {file->front()};  // class 0 of the names file
      source = "file";
    }
    auto mask = class_mask(config_.classes, names);
    if (!mask) return mask.error();
    hog_.setSVMDetector(cv::HOGDescriptor::getDefaultPeopleDetector());
    info_ = {.kind = "hog",
             .model_path = "",
             .input_width = max_side_,
             .input_height = max_side_,
             .class_names = names,
             .class_names_source = source};
    return {};
  }

  const DetectorInfo& info() const override { return info_; }

  Status warm_up(int iterations) override {
    cv::Mat blank(480, 640, CV_8UC3, cv::Scalar::all(114));
    for (int i = 0; i < iterations; ++i) {
      std::vector<cv::Rect> found;
      std::vector<double> weights;
      if (auto st = run(blank, found, weights); !st) return st;
    }
    return {};
  }

  Result<std::vector<Detection>> detect(const Frame& frame) override {
    const Clock& clock = SteadyClock::instance();
    const Timestamp t0 = clock.now();
    double scale = 1.0;
    try {
      auto bgr = frame_to_bgr(frame, scratch_, "detector.unsupported_frame");
      if (!bgr) return bgr.error();
      const int side = std::max(bgr->cols, bgr->rows);
      if (side > max_side_) {
        scale = static_cast<double>(max_side_) / side;
        cv::resize(*bgr, input_, cv::Size(), scale, scale, cv::INTER_AREA);
      } else {
        bgr->copyTo(input_);
      }
    } catch (const cv::Exception& e) {
      return make_error("detector.inference_failed",
                        std::string("preprocessing failed: ") + e.what());
    }
    const Timestamp t1 = clock.now();
    std::vector<cv::Rect> found;
    std::vector<double> weights;
    if (auto st = run(input_, found, weights); !st) return st.error();
    const Timestamp t2 = clock.now();

    std::vector<Candidate> candidates;
    const auto inv = static_cast<float>(1.0 / scale);
    const auto fw = static_cast<float>(frame.width()), fh = static_cast<float>(frame.height());
    for (size_t i = 0; i < found.size(); ++i) {
      const double margin = i < weights.size() ? weights[i] : 0.0;
      const auto score = static_cast<float>(1.0 / (1.0 + std::exp(-margin)));
      if (score < config_.score_threshold) continue;
      const cv::Rect& r = found[i];
      Box b{std::clamp(static_cast<float>(r.x) * inv, 0.0f, fw),
            std::clamp(static_cast<float>(r.y) * inv, 0.0f, fh),
            std::clamp(static_cast<float>(r.x + r.width) * inv, 0.0f, fw),
            std::clamp(static_cast<float>(r.y + r.height) * inv, 0.0f, fh)};
      candidates.push_back({0, score, b});
    }
    std::vector<Detection> dets;
    for (const Candidate& c : nms_per_class(std::move(candidates), config_.iou_threshold)) {
      dets.push_back({c.class_id, info_.class_names[0], c.score, c.box});
    }
    timings_ = {t1 - t0, t2 - t1, clock.now() - t2};
    return dets;
  }

  DetectorTimings last_timings() const override { return timings_; }

  Status forward_only() override {
    if (input_.empty())
      return make_error("detector.no_input", "forward_only() before any detect()");
    std::vector<cv::Rect> found;
    std::vector<double> weights;
    return run(input_, found, weights);
  }

 private:
  Status run(const cv::Mat& img, std::vector<cv::Rect>& found, std::vector<double>& weights) {
    if (config_.threads > 0 && cv::getNumThreads() != config_.threads) {
      cv::setNumThreads(config_.threads);
    }
    try {
      hog_.detectMultiScale(img, found, weights, 0.0, cv::Size(8, 8), cv::Size(16, 16), 1.05, 2.0);
    } catch (const cv::Exception& e) {
      return make_error("detector.inference_failed",
                        std::string("HOG detection failed: ") + e.what());
    }
    return {};
  }

  DetectorConfig config_;
  DetectorInfo info_;
  cv::HOGDescriptor hog_;
  int max_side_ = 640;
  cv::Mat scratch_, input_;
  DetectorTimings timings_;
};

Result<DetectorPtr> make_hog(const DetectorConfig& config) {
  auto d = std::make_unique<HogDetector>(config);
  try {
    if (auto st = d->load(); !st) return st.error();
  } catch (const cv::Exception& e) {
    return make_error("detector.inference_failed", std::string("HOG setup failed: ") + e.what());
  }
  return DetectorPtr(std::move(d));
}

}  // namespace
}  // namespace orion::infer

ORION_REGISTER_DETECTOR(hog,
                        {.kind = "hog",
                         .description = "OpenCV HOG people detector (no model file)",
                         .needs_model_file = false},
                        &orion::infer::make_hog);
