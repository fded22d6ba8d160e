// DecodeProcs: decoders in child processes (`orion bench gpu-decoder`) feeding this process
// through device slots. Everywhere: bad options and a child's setup error come back named.
// With NVDEC: two child processes decode a clip, and every frame this process gets is in
// device memory (a pointer into an opened CUDA IPC allocation), published by the children
// without error; a stream whose frame is held gets no other until it is dropped. Skips with a
// message where NVDEC or a GPU is missing.
#include "gpu/decode_procs.h"

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

TEST(GpuDecodeProcsTest, BadOptionsAreRefused) {
  DecodeProcsOptions o;
  o.exe = ORION_BINARY;
  o.streams = 2;
  o.procs = 3;
  auto r = DecodeProcs::spawn(o, [](int, FramePtr) {});
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, "bench.bad_option");
}

TEST(GpuDecodeProcsTest, AChildsSetupErrorIsNamed) {
  DecodeProcsOptions o;
  o.exe = ORION_BINARY;
  o.clip = "no/such/clip.mp4";
  o.streams = 2;
  o.procs = 2;
  o.decode_only = true;  // no device pool: the same error with or without a GPU
  auto r = DecodeProcs::spawn(o, nullptr);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, "gpu.spawn");
  EXPECT_NE(r.error().message.find("no/such/clip.mp4"), std::string::npos) << r.error().message;
}

TEST(GpuDecodeProcsTest, ChildrenFeedDeviceFramesThroughDeviceSlots) {
  ORION_REQUIRE_ASSET(clip, "vtest_480x360.mp4");
  std::string why;
  if (!nvdec_available(0, "h264", &why)) GTEST_SKIP() << why;
  DecodeProcsOptions o;
  o.exe = ORION_BINARY;
  o.clip = clip;
  o.streams = 4;
  o.procs = 2;
  o.realtime = false;
  o.slot_bytes = 480 * 368 * 3 / 2;
  std::mutex mu;
  std::vector<int> per_stream(4, 0);
  std::vector<FramePtr> kept;  // the first frame of stream 0, held on purpose
  bool kept_once = false;      // only the first: a frame after the release flows on
  std::atomic<int> not_device{0};
  auto procs = DecodeProcs::spawn(o, [&](int i, FramePtr f) {
    cudaPointerAttributes attr{};
    if (f->memory_kind() != MemoryKind::kDevice ||
        cudaPointerGetAttributes(&attr, f->data()) != cudaSuccess ||
        attr.type != cudaMemoryTypeDevice || f->format() != PixelFormat::kNV12 ||
        f->width() != 480 || f->identity().stream != static_cast<StreamId>(i + 1))
      ++not_device;
    std::lock_guard lock(mu);
    ++per_stream[static_cast<size_t>(i)];
    if (i == 0 && !kept_once) {
      kept.push_back(std::move(f));
      kept_once = true;
    }
  });
  ASSERT_TRUE(procs.ok()) << procs.error().to_string();
  ASSERT_TRUE((*procs)->start().ok());
  auto streams_reach = [&](int from, int n) {
    return orion::testing::wait_until(
        [&] {
          std::lock_guard lock(mu);
          for (int k = from; k < 4; ++k)
            if (per_stream[static_cast<size_t>(k)] < n) return false;
          return true;
        },
        Duration::seconds(60));
  };
  // One lease per stream: while stream 0's first frame is held, its reader takes no other,
  // and the other streams go on.
  ASSERT_TRUE(streams_reach(1, 20));
  {
    std::lock_guard lock(mu);
    EXPECT_EQ(per_stream[0], 1);
    kept.clear();  // the lease ends: stream 0 flows again
  }
  EXPECT_TRUE(streams_reach(0, 20));
  auto c = (*procs)->counts();
  ASSERT_TRUE(c.ok()) << c.error().to_string();
  EXPECT_GT(c->frames, 80u);
  EXPECT_GT(c->published, 80u);
  EXPECT_EQ(c->errors, 0u) << c->first_error;
  EXPECT_EQ(c->invalid, 0u) << c->first_error;
  EXPECT_EQ(not_device.load(), 0);
  (*procs)->stop_readers();
  (*procs)->stop();
}

}  // namespace
}  // namespace orion::gpu
