// The worker's reading of a configure message: wire settings map one to one onto the motion
// gate's and the detector's configuration, and the wire defaults are the gate's defaults.
#include "worker/configure.h"

#include <gtest/gtest.h>

namespace orion::worker {
namespace {

TEST(WorkerConfigureTest, WireMotionGateDefaultsAreTheGatesDefaults) {
  const infer::MotionGateConfig want;
  const infer::MotionGateConfig got = to_motion_gate_config(protocol::MotionGateSettings{});
  EXPECT_EQ(got.enabled, want.enabled);
  EXPECT_EQ(got.analysis_width, want.analysis_width);
  EXPECT_DOUBLE_EQ(got.min_motion_fraction, want.min_motion_fraction);
  EXPECT_EQ(got.history, want.history);
  EXPECT_DOUBLE_EQ(got.var_threshold, want.var_threshold);
  EXPECT_DOUBLE_EQ(got.learning_rate, want.learning_rate);
  EXPECT_EQ(got.max_skipped_in_row, want.max_skipped_in_row);
}

TEST(WorkerConfigureTest, EveryMotionGateFieldIsCarriedOver) {
  protocol::MotionGateSettings s;
  s.enabled = true;
  s.analysis_width = 161;
  s.min_motion_fraction = 0.07;
  s.history = 33;
  s.var_threshold = 25;
  s.learning_rate = 0.5;
  s.max_skipped_in_row = 9;
  const infer::MotionGateConfig g = to_motion_gate_config(s);
  EXPECT_TRUE(g.enabled);
  EXPECT_EQ(g.analysis_width, 161);
  EXPECT_DOUBLE_EQ(g.min_motion_fraction, 0.07);
  EXPECT_EQ(g.history, 33);
  EXPECT_DOUBLE_EQ(g.var_threshold, 25);
  EXPECT_DOUBLE_EQ(g.learning_rate, 0.5);
  EXPECT_EQ(g.max_skipped_in_row, 9);
}

TEST(WorkerConfigureTest, TheModelAndThresholdsBecomeTheDetectorConfig) {
  protocol::WorkerConfig c;
  c.model.kind = "yolox";
  c.model.path = "models/x.onnx";
  c.model.input_width = 416;
  c.model.input_height = 320;
  c.model.classes = {"person", "2"};
  c.model.class_names = {"cat", "dog"};
  c.model.class_names_path = "names.txt";
  c.model.threads = 2;
  c.model.device = "cuda:1";
  c.min_score = 0.4f;
  c.iou = 0.6f;
  const infer::DetectorConfig d = to_detector_config(c);
  EXPECT_EQ(d.kind, "yolox");
  EXPECT_EQ(d.model_path, "models/x.onnx");
  EXPECT_EQ(d.input_width, 416);
  EXPECT_EQ(d.input_height, 320);
  EXPECT_EQ(d.classes, (std::vector<std::string>{"person", "2"}));
  EXPECT_EQ(d.class_names, (std::vector<std::string>{"cat", "dog"}));
  EXPECT_EQ(d.class_names_path, "names.txt");
  EXPECT_EQ(d.threads, 2);
  EXPECT_EQ(d.device, "cuda:1");
  EXPECT_FLOAT_EQ(d.score_threshold, 0.4f);
  EXPECT_FLOAT_EQ(d.iou_threshold, 0.6f);
}

}  // namespace
}  // namespace orion::worker
