// Device strings ("cuda:N") and what a CPU-only build or a machine without a GPU answers.
#include "gpu/device.h"

#include <gtest/gtest.h>

#include <vector>

namespace orion::gpu {
namespace {

TEST(GpuDeviceTest, ParsesCudaAndCudaN) {
  EXPECT_EQ(parse_device("cuda")->index, 0);
  EXPECT_EQ(parse_device("cuda:0")->index, 0);
  EXPECT_EQ(parse_device("cuda:7")->index, 7);
  EXPECT_EQ(parse_device("cuda:3")->to_string(), "cuda:3");
}

TEST(GpuDeviceTest, RefusesOtherTextNamingIt) {
  for (const char* bad :
       {"", "cpu", "cuda:", "cuda:-1", "cuda:1x", "gpu:0", "cuda:99999", "CUDA:0"}) {
    auto r = parse_device(bad);
    ASSERT_FALSE(r.ok()) << bad;
    EXPECT_EQ(r.error().code, "gpu.bad_device");
    EXPECT_NE(r.error().message.find(std::string("'") + bad + "'"), std::string::npos)
        << r.error().message;
  }
}

TEST(GpuDeviceTest, DeviceCountIsAnErrorOrPositive) {
  auto n = device_count();
  if (!n) {
    EXPECT_EQ(n.error().code, "gpu.unavailable");
    EXPECT_FALSE(n.error().message.empty());
    GTEST_SKIP() << "no GPU here: " << n.error().message;
  }
  EXPECT_GT(*n, 0);
  auto missing = resolve_device("cuda:" + std::to_string(*n));
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.error().code, "gpu.no_such_device");
  EXPECT_TRUE(resolve_device("cuda:0").ok());
}

}  // namespace
}  // namespace orion::gpu

#include "gpu/batch_detector.h"

namespace orion::gpu {
namespace {

TEST(GpuBatchBucketsTest, PowersOfTwoToEightThenMultiplesOfEight) {
  EXPECT_EQ(batch_buckets(1), (std::vector<int>{1}));
  EXPECT_EQ(batch_buckets(4), (std::vector<int>{1, 2, 4}));
  EXPECT_EQ(batch_buckets(6), (std::vector<int>{1, 2, 4, 6}));
  EXPECT_EQ(batch_buckets(20), (std::vector<int>{1, 2, 4, 8, 16, 20}));
  EXPECT_EQ(batch_buckets(64), (std::vector<int>{1, 2, 4, 8, 16, 24, 32, 40, 48, 56, 64}));
}

TEST(GpuBatchBucketsTest, WithoutLibTorchTheDetectorIsUnavailable) {
  if (built_with_torch()) GTEST_SKIP() << "built with LibTorch";
  BatchDetectorConfig c;
  c.kind = "yolov8";
  auto r = create_batch_detector(c);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, "gpu.unavailable");
}

}  // namespace
}  // namespace orion::gpu
