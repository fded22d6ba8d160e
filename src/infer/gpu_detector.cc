#include "infer/gpu_detector.h"

#include <algorithm>
#include <map>
#include <memory>
#include <span>
#include <utility>
#include <vector>

#include "gpu/batch_detector.h"
#include "infer/class_names.h"

namespace orion::infer {

namespace {

constexpr int kCocoClasses = 80;

class TorchDetector final : public Detector {
 public:
  TorchDetector(gpu::BatchDetectorPtr det, DetectorInfo info, std::vector<uint8_t> mask)
      : det_(std::move(det)), info_(std::move(info)), mask_(std::move(mask)) {}

  const DetectorInfo& info() const override { return info_; }

  Status warm_up(int /*iterations*/) override { return det_->warm_up(); }

  Result<std::vector<Detection>> detect(const Frame& frame) override {
    // A non-owning FramePtr (aliasing constructor): the frame is read during the call only.
    const FramePtr p(std::shared_ptr<const Frame>(), &frame);
    auto r = det_->detect_batch(std::span<const FramePtr>(&p, 1));
    if (!r.ok()) return r.error();
    std::vector<Detection> dets = std::move((*r)[0]);
    if (!mask_.empty()) {
      std::erase_if(dets, [&](const Detection& d) {
        return d.class_id < 0 || static_cast<size_t>(d.class_id) >= mask_.size() ||
               mask_[static_cast<size_t>(d.class_id)] == 0;
      });
    }
    const gpu::BatchTimings t = det_->last_timings();
    timings_.preprocess = t.preprocess;
    timings_.forward = t.forward;
    timings_.postprocess = t.postprocess;
    return dets;
  }

  DetectorTimings last_timings() const override { return timings_; }

  Status forward_only() override {
    return make_error("detector.unsupported",
                      "the GPU detector replays its network only as part of detect()");
  }

 private:
  gpu::BatchDetectorPtr det_;
  DetectorInfo info_;
  std::vector<uint8_t> mask_;
  DetectorTimings timings_;
};

}  // namespace

Result<DetectorPtr> make_torch_detector(const DetectorConfig& config, const std::string& family) {
  if (config.input_width != config.input_height)
    return make_error("detector.bad_config", "the GPU detector takes a square input; got " +
                                                 std::to_string(config.input_width) + "x" +
                                                 std::to_string(config.input_height));
  auto names = resolve_class_names(config.class_names, config.class_names_path, {}, kCocoClasses,
                                   config.model_path);
  if (!names.ok()) return names.error();
  auto mask = class_mask(config.classes, names->names);
  if (!mask.ok()) return mask.error();
  gpu::BatchDetectorConfig bc;
  bc.kind = family;
  bc.model_path = config.model_path;
  bc.device = config.device.empty() ? "cuda:0" : config.device;
  bc.input_size = config.input_width;  // 0 = the family's
  bc.max_batch = 1;
  bc.score_threshold = config.score_threshold;
  bc.iou_threshold = config.iou_threshold;
  bc.class_names = names->names;
  auto det = gpu::create_batch_detector(bc);
  if (!det.ok()) return det.error();
  DetectorInfo info;
  info.kind = "torch_" + family;
  info.model_path = config.model_path;
  const int size = config.input_width > 0 ? config.input_width : (family == "yolox" ? 416 : 640);
  info.input_width = info.input_height = size;
  info.class_names = names->names;
  info.class_names_source = names->source;
  return DetectorPtr(std::make_unique<TorchDetector>(std::move(det).value(), std::move(info),
                                                     std::move(mask).value()));
}

}  // namespace orion::infer
