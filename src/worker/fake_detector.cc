#include "worker/fake_detector.h"

#include <chrono>
#include <thread>

#include "core/clock.h"

namespace orion::worker {
namespace {

class FakeDetector final : public infer::Detector {
 public:
  explicit FakeDetector(int delay_ms) : delay_ms_(delay_ms) {
    info_.kind = "fake";
    info_.class_names = {"object"};
    info_.class_names_source = "generated";
  }
  const infer::DetectorInfo& info() const override { return info_; }
  Status warm_up(int) override { return {}; }
  Result<std::vector<Detection>> detect(const Frame& frame) override {
    const Timestamp t0 = SteadyClock::instance().now();
    if (frame.size() == 0 || frame.memory_kind() != MemoryKind::kHost)
      return make_error("detector.unsupported_frame",
                        "fake detector needs a host frame with pixels");
    volatile uint8_t touch = frame.data()[0];
    touch = static_cast<uint8_t>(touch + frame.data()[frame.size() - 1]);
    if (delay_ms_ > 0) std::this_thread::sleep_for(std::chrono::milliseconds(delay_ms_));
    Detection d;
    d.class_id = 0;
    d.class_name = "object";
    d.score = 0.9f;
    const float w = static_cast<float>(frame.width()), h = static_cast<float>(frame.height());
    d.box = Box{w * 0.25f, h * 0.25f, w * 0.75f, h * 0.75f};
    timings_.forward = SteadyClock::instance().now() - t0;
    return std::vector<Detection>{d};
  }
  infer::DetectorTimings last_timings() const override { return timings_; }
  Status forward_only() override {
    return make_error("detector.unsupported", "fake detector has no network");
  }

 private:
  int delay_ms_;
  infer::DetectorInfo info_;
  infer::DetectorTimings timings_;
};

}  // namespace

infer::DetectorPtr make_fake_detector(int delay_ms) {
  return std::make_unique<FakeDetector>(delay_ms);
}

}  // namespace orion::worker
