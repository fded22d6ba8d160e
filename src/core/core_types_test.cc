#include <gtest/gtest.h>

#include "core/clock.h"
#include "core/frame.h"
#include "core/frame_pool.h"
#include "core/result.h"
#include "core/time.h"

namespace orion {
namespace {

TEST(Duration, ConvertsBetweenUnits) {
  EXPECT_EQ(Duration::millis(3).count_nanos(), 3'000'000);
  EXPECT_DOUBLE_EQ(Duration::micros(1500).as_millis(), 1.5);
  EXPECT_LT(Duration::micros(999), Duration::millis(1));
}

TEST(Timestamp, DifferenceIsADuration) {
  Timestamp a = Timestamp::from_nanos(1000);
  Timestamp b = a + Duration::micros(2);
  EXPECT_EQ((b - a).count_nanos(), 2000);
  EXPECT_FALSE(Timestamp().is_set());
  EXPECT_TRUE(b.is_set());
}

TEST(FakeClock, MovesOnlyWhenAdvanced) {
  FakeClock clock;
  Timestamp t0 = clock.now();
  EXPECT_EQ(clock.now(), t0);
  clock.advance(Duration::millis(5));
  EXPECT_EQ(clock.now() - t0, Duration::millis(5));
}

TEST(SteadyClock, NeverGoesBackwards) {
  const auto& c = SteadyClock::instance();
  Timestamp a = c.now();
  Timestamp b = c.now();
  EXPECT_LE(a, b);
}

TEST(Result, HoldsValueOrError) {
  Result<int> ok = 7;
  Result<int> bad = make_error("x.bad", "x was bad");
  ASSERT_TRUE(ok.ok());
  EXPECT_EQ(*ok, 7);
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.error().code, "x.bad");
  EXPECT_EQ(bad.error().to_string(), "x.bad: x was bad");
  Status s;
  EXPECT_TRUE(s.ok());
  Status f = make_error("y", "why");
  EXPECT_FALSE(f.ok());
}

TEST(FrameLayout, PackedBgrHasOnePlaneOfThreeBytesPerPixel) {
  auto l = FrameLayout::packed(PixelFormat::kBGR24, 1280, 720);
  EXPECT_EQ(l.plane_count, 1);
  EXPECT_EQ(l.strides[0], 3840);
  EXPECT_EQ(l.size, 1280u * 720u * 3u);
}

TEST(FrameLayout, PackedI420HasThreePlanesWithHalfSizeChroma) {
  auto l = FrameLayout::packed(PixelFormat::kI420, 640, 480);
  EXPECT_EQ(l.plane_count, 3);
  EXPECT_EQ(l.offsets[1], 640u * 480u);
  EXPECT_EQ(l.offsets[2], 640u * 480u + 320u * 240u);
  EXPECT_EQ(l.size, 640u * 480u * 3u / 2u);
}

TEST(FrameLayout, RejectsNonPositiveSizes) {
  EXPECT_FALSE(FrameLayout::packed(PixelFormat::kBGR24, 0, 10).valid());
  EXPECT_FALSE(FrameLayout::packed(PixelFormat::kUnknown, 10, 10).valid());
}

TEST(Frame, RunsItsReleaseExactlyOnceWhenTheLastReferenceDies) {
  int released = 0;
  std::vector<uint8_t> bytes(12);
  PixelMemory mem{bytes.data(), bytes.size(), MemoryKind::kHost, [&] { ++released; }};
  FramePtr a = freeze(std::make_unique<Frame>(FrameLayout::packed(PixelFormat::kBGR24, 2, 2), std::move(mem)));
  FramePtr b = a;
  a.reset();
  EXPECT_EQ(released, 0);
  b.reset();
  EXPECT_EQ(released, 1);
}

TEST(HeapFramePool, RecyclesBuffersOfTheSameSize) {
  HeapFramePool pool;
  auto layout = FrameLayout::packed(PixelFormat::kBGR24, 64, 48);
  const uint8_t* first;
  {
    auto f = pool.acquire(layout);
    ASSERT_TRUE(f.ok());
    first = (*f)->data();
  }
  auto g = pool.acquire(layout);
  ASSERT_TRUE(g.ok());
  EXPECT_EQ((*g)->data(), first);
  EXPECT_EQ(pool.stats().allocated, 1u);
  EXPECT_EQ(pool.stats().in_use, 1u);
}

TEST(HeapFramePool, ReportsExhaustionWhenCapacityIsReached) {
  HeapFramePool pool(1);
  auto layout = FrameLayout::packed(PixelFormat::kGray8, 8, 8);
  auto a = pool.acquire(layout);
  ASSERT_TRUE(a.ok());
  auto b = pool.acquire(layout);
  ASSERT_FALSE(b.ok());
  EXPECT_EQ(b.error().code, "pool.exhausted");
  EXPECT_EQ(pool.stats().exhausted, 1u);
}

TEST(HeapFramePool, FramesMayOutliveThePool) {
  MutableFramePtr f;
  {
    HeapFramePool pool;
    auto r = pool.acquire(FrameLayout::packed(PixelFormat::kGray8, 8, 8));
    ASSERT_TRUE(r.ok());
    f = std::move(r).value();
  }
  f->mutable_data()[0] = 1;  // memory still valid (ASan checks)
  f.reset();
}

TEST(HeapFramePool, RejectsAnEmptyLayout) {
  HeapFramePool pool;
  auto r = pool.acquire(FrameLayout{});
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, "pool.bad_layout");
}

}  // namespace
}  // namespace orion
