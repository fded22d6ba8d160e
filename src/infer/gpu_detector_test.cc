// The GPU detector kinds as a user reaches them (create_detector with a model spec's kind):
// registered, and their errors named. Where this build has no LibTorch/CUDA (CI, this VM) the
// kinds say so ("gpu.unavailable"); detections on a GPU are checked by src/gpu's
// torch_detector_test against the CPU references.
#include <gtest/gtest.h>

#include "gpu/device.h"
#include "infer/registry.h"

namespace orion::infer {
namespace {

TEST(GpuDetectorKinds, AreRegisteredAndNeedAModelFile) {
  for (const char* k : {"torch_yolov8", "torch_yolox"}) {
    const DetectorKindInfo* info = find_detector_kind(k);
    ASSERT_NE(info, nullptr) << k;
    EXPECT_TRUE(info->needs_model_file);
    EXPECT_NE(info->description.find("GPU"), std::string::npos);
  }
}

TEST(GpuDetectorKinds, ANonSquareInputIsABadConfig) {
  DetectorConfig c;
  c.kind = "torch_yolov8";
  c.model_path = "yolov8n.pt";
  c.input_width = 640;
  c.input_height = 480;
  auto r = create_detector(c);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, "detector.bad_config");
  EXPECT_NE(r.error().message.find("640x480"), std::string::npos) << r.error().message;
}

TEST(GpuDetectorKinds, AnUnknownClassIsNamed) {
  DetectorConfig c;
  c.kind = "torch_yolox";
  c.model_path = "yolox_nano.pt";
  c.classes = {"person", "unicorn"};
  auto r = create_detector(c);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, "detector.unknown_class");
  EXPECT_NE(r.error().message.find("unicorn"), std::string::npos) << r.error().message;
}

TEST(GpuDetectorKinds, WithoutLibTorchOrAGpuTheErrorSaysSo) {
  DetectorConfig c;
  c.kind = "torch_yolov8";
  c.model_path = "no/such/model.pt";
  c.device = "cuda:0";
  auto r = create_detector(c);
  ASSERT_FALSE(r.ok());
  if (gpu::built_with_torch() && gpu::device_count().ok()) {
    EXPECT_EQ(r.error().code, "model.not_found") << r.error().to_string();
  } else {
    EXPECT_EQ(r.error().code, "gpu.unavailable") << r.error().to_string();
  }
}

TEST(GpuDetectorKinds, TheCpuIsNotADeviceOfAGpuKind) {
  DetectorConfig c;
  c.kind = "torch_yolox";
  c.model_path = "yolox_nano.pt";
  c.device = "cpu";
  auto r = create_detector(c);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, "device.unsupported") << r.error().to_string();
  EXPECT_NE(r.error().message.find("CUDA device only"), std::string::npos) << r.error().message;
}

}  // namespace
}  // namespace orion::infer
