#include "infer/motion_gate.h"

#include <algorithm>
#include <opencv2/imgproc.hpp>
#include <opencv2/video/background_segm.hpp>

#include "infer/opencv_frame.h"

namespace orion::infer {

struct MotionGate::Impl {
  MotionGateConfig config;
  MotionGateStats stats;
  cv::Ptr<cv::BackgroundSubtractorMOG2> mog;
  cv::Mat scratch, small, mask;
  int skipped_in_row = 0;

  void make_model() {
    mog = cv::createBackgroundSubtractorMOG2(config.history, config.var_threshold,
                                             /*detectShadows=*/false);
    skipped_in_row = 0;
  }
};

MotionGate::MotionGate(MotionGateConfig config) : impl_(std::make_unique<Impl>()) {
  impl_->config = config;
  if (config.enabled) impl_->make_model();
}

MotionGate::~MotionGate() = default;
MotionGate::MotionGate(MotionGate&&) noexcept = default;
MotionGate& MotionGate::operator=(MotionGate&&) noexcept = default;

const MotionGateConfig& MotionGate::config() const { return impl_->config; }
MotionGateStats MotionGate::stats() const { return impl_->stats; }

void MotionGate::reset() {
  if (impl_->config.enabled) impl_->make_model();
}

Result<MotionDecision> MotionGate::update(const Frame& frame) {
  Impl& s = *impl_;
  MotionDecision d;
  if (!s.config.enabled) {
    ++s.stats.frames;
    ++s.stats.passed;
    return d;
  }
  try {
    auto gray = frame_to_gray(frame, s.scratch, "motion_gate.unsupported_frame");
    if (!gray) return gray.error();
    const int aw = std::max(16, std::min(s.config.analysis_width, gray->cols));
    const int ah = std::max(1, static_cast<int>(static_cast<long>(gray->rows) * aw / gray->cols));
    cv::resize(*gray, s.small, cv::Size(aw, ah), 0, 0, cv::INTER_AREA);
    const bool first = s.stats.frames == 0 || s.mog.empty();
    if (s.mog.empty()) s.make_model();
    s.mog->apply(s.small, s.mask, s.config.learning_rate);
    // A 3×3 opening drops isolated noise pixels (sensor noise, compression artefacts).
    cv::morphologyEx(s.mask, s.mask, cv::MORPH_OPEN,
                     cv::getStructuringElement(cv::MORPH_RECT, cv::Size(3, 3)));
    d.motion_fraction =
        static_cast<double>(cv::countNonZero(s.mask)) / static_cast<double>(s.mask.total());
    const bool moving = d.motion_fraction >= s.config.min_motion_fraction;
    const bool refresh =
        s.config.max_skipped_in_row > 0 && s.skipped_in_row >= s.config.max_skipped_in_row;
    d.run_inference = first || moving || refresh;
  } catch (const cv::Exception& e) {
    return make_error("motion_gate.failed",
                      std::string("background subtraction failed: ") + e.what());
  }
  ++s.stats.frames;
  if (d.run_inference) {
    ++s.stats.passed;
    s.skipped_in_row = 0;
  } else {
    ++s.stats.skipped;
    ++s.skipped_in_row;
  }
  return d;
}

}  // namespace orion::infer
