// The database's records as the engine's Config: a model's every field, its device included
// (ADR 0092), reaches the engine::ModelConfig the supervisor sends to the worker.
#include "control/desired_config.h"

#include <gtest/gtest.h>

namespace orion::control {
namespace {

TEST(DesiredConfig, AModelsFieldsReachTheEngineConfigDeviceIncluded) {
  store::ModelRecord gpu;
  gpu.name = "gpu";
  gpu.kind = "torch_yolox";
  gpu.path = "/m/yolox_nano.pt";
  gpu.input_width = 416;
  gpu.input_height = 416;
  gpu.class_names = {"person"};
  gpu.threads = 2;
  gpu.device = "cuda:1";
  store::ModelRecord cpu;
  cpu.name = "cpu";
  cpu.kind = "hog";
  const DesiredConfig d = to_engine_config({}, {gpu, cpu}, {});
  EXPECT_TRUE(d.errors.empty());
  ASSERT_EQ(d.config.models.size(), 2u);
  const engine::ModelConfig& m = d.config.models[0];
  EXPECT_EQ(m.name, "gpu");
  EXPECT_EQ(m.kind, "torch_yolox");
  EXPECT_EQ(m.path, "/m/yolox_nano.pt");
  EXPECT_EQ(m.input_width, 416);
  EXPECT_EQ(m.input_height, 416);
  EXPECT_EQ(m.class_names_inline, std::vector<std::string>{"person"});
  EXPECT_EQ(m.threads, 2);
  EXPECT_EQ(m.device, "cuda:1");
  EXPECT_EQ(d.config.models[1].device, "cpu");  // the record's default
}

}  // namespace
}  // namespace orion::control
