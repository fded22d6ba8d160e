// NvdecSource: errors named, and on a machine with NVDEC a real clip decoded into device
// memory (frames of MemoryKind::kDevice whose pointers the CUDA runtime calls device memory).
// Skips with a message where nvcodec or a GPU is missing.
#include <cuda_runtime_api.h>
#include <gtest/gtest.h>

#include <atomic>
#include <mutex>
#include <vector>

#include "gpu/nvdec_source.h"
#include "testing/assets.h"
#include "testing/wait.h"

namespace orion::gpu {
namespace {

TEST(GpuNvdecTest, MissingFileAndBadCodecAreNamed) {
  auto r = NvdecSource::open(NvdecOptions{"no/such/clip.mp4"}, [](FramePtr) {});
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, "media.bad_source");
  EXPECT_NE(r.error().message.find("no/such/clip.mp4"), std::string::npos);
}

TEST(GpuNvdecTest, DecodesAClipIntoDeviceMemory) {
  ORION_REQUIRE_ASSET(clip, "vtest_480x360.mp4");
  std::string why;
  if (!nvdec_available(0, "h264", &why)) GTEST_SKIP() << why;
  std::mutex mu;
  std::vector<FramePtr> kept;  // the first few frames, kept alive past the decode
  std::atomic<int> host_frames{0};
  NvdecOptions o;
  o.path = clip;
  o.realtime = false;
  o.loop = false;
  o.stream = 3;
  auto src = NvdecSource::open(o, [&](FramePtr f) {
    if (f->memory_kind() != MemoryKind::kDevice) ++host_frames;
    std::lock_guard lock(mu);
    if (kept.size() < 4) kept.push_back(std::move(f));
  });
  ASSERT_TRUE(src.ok()) << src.error().to_string();
  ASSERT_TRUE((*src)->start().ok());
  ASSERT_TRUE(orion::testing::wait_until([&] { return (*src)->finished(); }, Duration::seconds(60)))
      << "decoded " << (*src)->frames() << " frames";
  EXPECT_EQ((*src)->error(), "");
  EXPECT_EQ((*src)->frames(), 795u);  // the whole clip (MANIFEST: 79.5 s at 10 fps)
  EXPECT_EQ(host_frames.load(), 0);
  std::lock_guard lock(mu);
  ASSERT_EQ(kept.size(), 4u);
  const Frame& f = *kept[1];
  EXPECT_EQ(f.identity().stream, 3u);
  EXPECT_EQ(f.identity().sequence, 2u);
  EXPECT_EQ(f.format(), PixelFormat::kNV12);
  EXPECT_EQ(f.width(), 480);
  EXPECT_EQ(f.height(), 360);
  cudaPointerAttributes attr{};
  ASSERT_EQ(cudaPointerGetAttributes(&attr, f.data()), cudaSuccess);
  EXPECT_EQ(attr.type, cudaMemoryTypeDevice);
  // The luma plane holds a picture (not all one value).
  std::vector<uint8_t> y(static_cast<size_t>(f.width() * f.height()));
  ASSERT_EQ(cudaMemcpy2D(y.data(), static_cast<size_t>(f.width()), f.plane(0),
                         static_cast<size_t>(f.stride(0)), static_cast<size_t>(f.width()),
                         static_cast<size_t>(f.height()), cudaMemcpyDeviceToHost),
            cudaSuccess);
  const auto [lo, hi] = std::minmax_element(y.begin(), y.end());
  EXPECT_GT(*hi - *lo, 100);
  (*src)->stop();
}

}  // namespace
}  // namespace orion::gpu
