// Device strings ("cuda:N") and what a CPU-only build or a machine without a GPU answers.
#include "gpu/device.h"

#include <gtest/gtest.h>

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
