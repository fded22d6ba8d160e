// MotionGate on synthetic frames: a static scene is skipped after the first frame, a moving
// object passes, forced refreshes, counters, reset, YUV input and bad frames.
#include "infer/motion_gate.h"

#include <gtest/gtest.h>

#include <cstring>

#include "core/frame_pool.h"

namespace orion::infer {
namespace {

constexpr int kW = 160, kH = 120;

// A grey scene with a white 20×20 square at (x, 50) (none when x < 0).
FramePtr scene(int square_x, PixelFormat format = PixelFormat::kBGR24) {
  HeapFramePool pool;
  auto f = pool.acquire(FrameLayout::packed(format, kW, kH));
  EXPECT_TRUE(f.ok());
  Frame& fr = **f;
  const int bpp = format == PixelFormat::kBGR24 ? 3 : 1;
  std::memset(fr.mutable_data(), 128, fr.size());  // also neutral chroma for I420
  for (int y = 50; y < 70 && square_x >= 0; ++y) {
    std::memset(fr.mutable_plane(0) + y * fr.stride(0) + square_x * bpp, 255,
                static_cast<size_t>(20 * bpp));
  }
  return freeze(std::move(*f));
}

MotionGateConfig enabled(int max_skipped = 0) {
  MotionGateConfig c;
  c.enabled = true;
  c.max_skipped_in_row = max_skipped;
  return c;
}

TEST(MotionGate, DisabledGatePassesEveryFrame) {
  MotionGate gate;  // default config: disabled
  for (int i = 0; i < 5; ++i) {
    auto d = gate.update(*scene(-1));
    ASSERT_TRUE(d.ok());
    EXPECT_TRUE(d->run_inference);
  }
  EXPECT_EQ(gate.stats().frames, 5u);
  EXPECT_EQ(gate.stats().passed, 5u);
  EXPECT_EQ(gate.stats().skipped, 0u);
}

TEST(MotionGate, StaticSceneIsSkippedAfterTheFirstFrame) {
  MotionGate gate(enabled());
  auto first = gate.update(*scene(-1));
  ASSERT_TRUE(first.ok());
  EXPECT_TRUE(first->run_inference);
  for (int i = 0; i < 10; ++i) {
    auto d = gate.update(*scene(-1));
    ASSERT_TRUE(d.ok());
    EXPECT_FALSE(d->run_inference) << "frame " << i + 1;
    EXPECT_EQ(d->motion_fraction, 0.0);
  }
  EXPECT_EQ(gate.stats().skipped, 10u);
  EXPECT_EQ(gate.stats().passed, 1u);
}

TEST(MotionGate, MovingObjectPasses) {
  MotionGate gate(enabled());
  for (int i = 0; i < 5; ++i) ASSERT_TRUE(gate.update(*scene(-1)).ok());
  for (int x = 10; x < 130; x += 15) {
    auto d = gate.update(*scene(x));
    ASSERT_TRUE(d.ok());
    EXPECT_TRUE(d->run_inference) << "square at x=" << x;
    EXPECT_GT(d->motion_fraction, 0.01);
  }
  const MotionGateStats s = gate.stats();
  EXPECT_EQ(s.frames, s.passed + s.skipped);
  EXPECT_EQ(s.skipped, 4u);
}

TEST(MotionGate, ForcesAFrameThroughAfterMaxSkippedInARow) {
  MotionGate gate(enabled(3));
  std::string pattern;
  for (int i = 0; i < 9; ++i) {
    auto d = gate.update(*scene(-1));
    ASSERT_TRUE(d.ok());
    pattern += d->run_inference ? 'P' : 's';
  }
  EXPECT_EQ(pattern, "PsssPsssP");
}

TEST(MotionGate, ResetForgetsTheBackground) {
  MotionGate gate(enabled());
  ASSERT_TRUE(gate.update(*scene(-1)).ok());
  ASSERT_FALSE(gate.update(*scene(-1))->run_inference);
  gate.reset();
  EXPECT_TRUE(gate.update(*scene(-1))->run_inference);
}

TEST(MotionGate, ReadsTheLumaOfYuvFrames) {
  MotionGate gate(enabled());
  ASSERT_TRUE(gate.update(*scene(-1, PixelFormat::kI420)).ok());
  EXPECT_FALSE(gate.update(*scene(-1, PixelFormat::kI420))->run_inference);
  EXPECT_TRUE(gate.update(*scene(60, PixelFormat::kI420))->run_inference);
}

TEST(MotionGate, UnsupportedFrameIsAnErrorAndCountsNothing) {
  MotionGate gate(enabled());
  std::vector<uint8_t> px(kW * kH * 3);
  Frame device(FrameLayout::packed(PixelFormat::kBGR24, kW, kH),
               PixelMemory{px.data(), px.size(), MemoryKind::kDevice, {}});
  auto d = gate.update(device);
  ASSERT_FALSE(d.ok());
  EXPECT_EQ(d.error().code, "motion_gate.unsupported_frame");
  EXPECT_EQ(gate.stats().frames, 0u);
}

}  // namespace
}  // namespace orion::infer
