// The device grammar of a model (core/device.h, ADR 0092): what is accepted, what it means,
// the canonical text, and which kinds take which devices.
#include "core/device.h"

#include <gtest/gtest.h>

namespace orion {
namespace {

TEST(InferenceDevice, CpuAndCudaOrdinalsAreAccepted) {
  auto cpu = parse_inference_device("cpu");
  ASSERT_TRUE(cpu.ok()) << cpu.error().to_string();
  EXPECT_TRUE(cpu->is_cpu());
  EXPECT_EQ(cpu->to_string(), "cpu");

  auto one = parse_inference_device("cuda:1");
  ASSERT_TRUE(one.ok()) << one.error().to_string();
  EXPECT_FALSE(one->is_cpu());
  EXPECT_EQ(one->index, 1);
  EXPECT_EQ(one->to_string(), "cuda:1");

  auto big = parse_inference_device("cuda:9999");
  ASSERT_TRUE(big.ok()) << big.error().to_string();
  EXPECT_EQ(big->index, 9999);
}

TEST(InferenceDevice, BareCudaIsCudaZeroAndLeadingZerosAreCanonicalised) {
  auto bare = parse_inference_device("cuda");
  ASSERT_TRUE(bare.ok()) << bare.error().to_string();
  EXPECT_EQ(bare->to_string(), "cuda:0");
  auto padded = parse_inference_device("cuda:01");
  ASSERT_TRUE(padded.ok()) << padded.error().to_string();
  EXPECT_EQ(padded->to_string(), "cuda:1");
}

TEST(InferenceDevice, AnythingElseIsRefusedQuotingTheText) {
  // Empty, other words, case, spaces, signs, other separators, too many digits, not a number.
  const char* const refused[] = {"",
                                 "gpu0",
                                 "gpu",
                                 "GPU:0",
                                 "CPU",
                                 "Cuda:0",
                                 "cuda:",
                                 "cuda:-1",
                                 "cuda:+1",
                                 "cuda:x",
                                 "cuda:1x",
                                 "cuda: 1",
                                 " cpu",
                                 "cpu ",
                                 "cuda:0:1",
                                 "cuda:10000",
                                 "cuda:99999999999",
                                 "0",
                                 "1",
                                 "cuda0",
                                 "cuda:1.0"};
  for (const char* text : refused) {
    auto d = parse_inference_device(text);
    ASSERT_FALSE(d.ok()) << "'" << text << "' was accepted";
    EXPECT_EQ(d.error().code, "device.invalid") << text;
    EXPECT_NE(d.error().message.find("'" + std::string(text) + "'"), std::string::npos)
        << d.error().message;
    EXPECT_NE(d.error().message.find("'cuda:N'"), std::string::npos) << d.error().message;
  }
}

TEST(InferenceDevice, ControlCharactersAndLongTextAreNotEchoedAsIs) {
  auto ctl = parse_inference_device(std::string_view("cu\x01\nda", 6));
  ASSERT_FALSE(ctl.ok());
  EXPECT_EQ(ctl.error().message.find('\n'), std::string::npos) << ctl.error().message;
  auto long_text = parse_inference_device(std::string(1000, 'x'));
  ASSERT_FALSE(long_text.ok());
  EXPECT_LT(long_text.error().message.size(), 200u) << long_text.error().message;
}

TEST(InferenceDevice, TorchKindsRunOnCudaAndEveryOtherKindOnTheCpu) {
  EXPECT_TRUE(kind_runs_on_cuda("torch_yolov8"));
  EXPECT_TRUE(kind_runs_on_cuda("torch_yolox"));
  for (const char* k : {"yolov8", "yolox", "hog", "fake"}) EXPECT_FALSE(kind_runs_on_cuda(k)) << k;
  EXPECT_EQ(default_device_for_kind("torch_yolox").to_string(), "cuda:0");
  EXPECT_EQ(default_device_for_kind("yolox").to_string(), "cpu");
  EXPECT_EQ(default_device_for_kind("hog").to_string(), "cpu");
}

TEST(InferenceDevice, AKindRefusesADeviceItCannotRunOnNamingBoth) {
  const InferenceDevice cpu;
  const InferenceDevice cuda1{InferenceDevice::Kind::kCuda, 1};
  EXPECT_TRUE(check_device_for_kind("yolox", cpu).ok());
  EXPECT_TRUE(check_device_for_kind("torch_yolov8", cuda1).ok());

  auto onnx = check_device_for_kind("yolox", cuda1);
  ASSERT_FALSE(onnx.ok());
  EXPECT_EQ(onnx.error().code, "device.unsupported");
  EXPECT_NE(onnx.error().message.find("'yolox'"), std::string::npos) << onnx.error().message;
  EXPECT_NE(onnx.error().message.find("'cuda:1'"), std::string::npos) << onnx.error().message;
  EXPECT_NE(onnx.error().message.find("CPU only"), std::string::npos) << onnx.error().message;

  auto torch = check_device_for_kind("torch_yolox", cpu);
  ASSERT_FALSE(torch.ok());
  EXPECT_EQ(torch.error().code, "device.unsupported");
  EXPECT_NE(torch.error().message.find("CUDA device only"), std::string::npos)
      << torch.error().message;
}

}  // namespace
}  // namespace orion
