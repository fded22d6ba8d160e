// IpcBridge with a real supplier, a real shared-memory pool and a real FrameReader (the worker
// side): the engine's I420 frames reach workers as BGR24, converted once into a slot of the
// pool (ADR 0080), identical to colour::to_bgr of the decoded values; with no worker attached
// nothing is converted or published.
#include "ipc/ipc_bridge.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <cstring>
#include <vector>

#include "colour/convert.h"
#include "core/frame_supplier.h"
#include "ipc/frame_reader.h"
#include "testing/wait.h"
#include "testing/watchdog.h"

namespace orion::ipc {
namespace {

constexpr int kW = 64, kH = 48;

FramePtr i420_frame(FramePool& pool, uint64_t seq) {
  auto r = pool.acquire(FrameLayout::packed(PixelFormat::kI420, kW, kH));
  EXPECT_TRUE(r.ok()) << r.error().to_string();
  MutableFramePtr f = std::move(r).value();
  for (size_t i = 0; i < f->size(); ++i)
    f->mutable_data()[i] = static_cast<uint8_t>((i * 7 + seq * 13) % 220 + 16);
  f->set_identity(FrameIdentity{3, seq, Duration::millis(static_cast<int64_t>(seq)),
                                Timestamp::from_nanos(100 + static_cast<int64_t>(seq))});
  return freeze(std::move(f));
}

TEST(IpcBridge, WorkersGetBgrMadeOnceFromTheDecodersLayoutOnlyWhileAttached) {
  orion::testing::Watchdog dog(Duration::seconds(30), "ipc_bridge_test");
  ShmFramePoolOptions po;
  po.stream_id = 3;
  po.slot_count = 12;
  po.slot_capacity = static_cast<size_t>(kW) * kH * 3;
  auto pool = ShmFramePool::create(po);
  ASSERT_TRUE(pool.ok()) << pool.error().to_string();
  FrameSupplier supplier;
  IpcBridge bridge("cam", supplier, *pool);
  bridge.start();

  // No worker: the frame is taken and skipped; nothing is converted or published.
  FramePtr first = i420_frame(**pool, 1);
  supplier.publish(first);
  ASSERT_TRUE(orion::testing::wait_until([&] { return bridge.frames_skipped() == 1; },
                                         Duration::seconds(5)));
  EXPECT_EQ((*pool)->shm_stats().published, 0u);

  auto port = (*pool)->attach("w");
  ASSERT_TRUE(port.ok());
  auto fd = (*pool)->reader_fd();
  ASSERT_TRUE(fd.ok());
  auto reader = FrameReader::open(std::move(fd).value(), UniqueFd(::dup((*port)->fd())));
  ASSERT_TRUE(reader.ok()) << reader.error().to_string();

  for (uint64_t seq = 2; seq <= 4; ++seq) {
    FramePtr yuv = i420_frame(**pool, seq);
    supplier.publish(yuv);
    auto got = (*reader)->next_frame(Duration::seconds(5));
    ASSERT_TRUE(got.ok()) << got.error().to_string();
    const Frame& f = **got;
    EXPECT_EQ(f.format(), PixelFormat::kBGR24);  // the slot header says so
    EXPECT_EQ(f.identity(), yuv->identity());
    EXPECT_EQ(f.width(), kW);
    EXPECT_EQ(f.stride(), kW * 3);
    std::vector<uint8_t> want(static_cast<size_t>(kW) * kH * 3);
    ASSERT_TRUE(colour::to_bgr(colour::view_of(*yuv), want.data(), kW * 3).ok());
    EXPECT_EQ(std::memcmp(f.data(), want.data(), want.size()), 0)
        << "not the BGR of the decoded values";
    EXPECT_NE(f.data(), yuv->data());  // a slot of its own
  }
  const ShmPoolStats st = (*pool)->shm_stats();
  EXPECT_EQ(st.published, 3u);
  EXPECT_EQ(st.bytes_copied, 0u);  // converted into a slot of the pool, offered in place
  EXPECT_EQ(bridge.publish_errors(), 0u);
  bridge.stop();
  (*pool)->detach_and_reclaim(*port);
}

}  // namespace
}  // namespace orion::ipc
