// BatchCollector: newest-frame rule, bounded wait (on a FakeClock: no sleeps), fairness, stop.
#include "gpu/batch_collector.h"

#include <gtest/gtest.h>

#include <future>
#include <vector>

#include "core/clock.h"
#include "testing/watchdog.h"

namespace orion::gpu {
namespace {

FramePtr frame(StreamId stream, uint64_t seq) {
  static uint8_t pixels[16 * 16 * 3];
  auto f = std::make_unique<Frame>(FrameLayout::packed(PixelFormat::kBGR24, 16, 16),
                                   PixelMemory{pixels, sizeof(pixels), MemoryKind::kHost, [] {}});
  f->set_identity(FrameIdentity{stream, seq, Duration::zero(), Timestamp()});
  return freeze(std::move(f));
}

std::vector<uint64_t> sequences(const std::vector<BatchItem>& b) {
  std::vector<uint64_t> out;
  for (const auto& it : b) out.push_back(it.frame->identity().sequence);
  return out;
}

TEST(BatchCollectorTest, NewerFrameReplacesOlderAndTheBatchHoldsTheNewest) {
  FakeClock clock;
  BatchCollector c(2, clock);
  ASSERT_TRUE(c.submit(0, frame(1, 1)));
  ASSERT_TRUE(c.submit(0, frame(1, 2)));
  ASSERT_TRUE(c.submit(1, frame(2, 7)));
  auto b = c.collect(8, Duration::millis(5));  // both streams pending: no wait
  ASSERT_EQ(b.size(), 2u);
  EXPECT_EQ(b[0].stream, 0);
  EXPECT_EQ(b[1].stream, 1);
  EXPECT_EQ(sequences(b), (std::vector<uint64_t>{2, 7}));
  const auto s = c.stats();
  EXPECT_EQ(s.submitted, 3u);
  EXPECT_EQ(s.dropped, 1u);
  EXPECT_EQ(s.taken, 2u);
  EXPECT_EQ(s.batches, 1u);
}

TEST(BatchCollectorTest, WaitsForOtherStreamsAtMostMaxWaitAfterTheOldestFrame) {
  orion::testing::Watchdog dog(Duration::seconds(20), "BatchCollector::collect");
  FakeClock clock;
  BatchCollector c(2, clock);
  c.submit(0, frame(1, 1));
  auto fut = std::async(std::launch::async, [&] { return c.collect(8, Duration::millis(10)); });
  ASSERT_TRUE(clock.wait_for_waiters(1));
  // A newer frame of the same stream during the wait: still one stream, still waiting; the
  // deadline stays 10 ms after the first frame arrived.
  c.submit(0, frame(1, 2));
  clock.advance(Duration::millis(9));
  EXPECT_EQ(fut.wait_for(std::chrono::milliseconds(0)), std::future_status::timeout);
  clock.advance(Duration::millis(1));
  auto b = fut.get();
  ASSERT_EQ(b.size(), 1u);
  EXPECT_EQ(b[0].frame->identity().sequence, 2u);
  EXPECT_EQ(c.stats().dropped, 1u);
}

TEST(BatchCollectorTest, SecondStreamArrivingEndsTheWaitAtOnce) {
  orion::testing::Watchdog dog(Duration::seconds(20), "BatchCollector::collect");
  FakeClock clock;
  BatchCollector c(2, clock);
  c.submit(1, frame(2, 1));
  auto fut = std::async(std::launch::async, [&] { return c.collect(8, Duration::seconds(100)); });
  ASSERT_TRUE(clock.wait_for_waiters(1));
  c.submit(0, frame(1, 5));
  auto b = fut.get();  // no clock advance needed
  ASSERT_EQ(b.size(), 2u);
  EXPECT_EQ(sequences(b), (std::vector<uint64_t>{5, 1}));
}

TEST(BatchCollectorTest, AFrameThatWaitedWhileTheWorkerWasBusyGoesAtOnce) {
  FakeClock clock;
  BatchCollector c(3, clock);
  c.submit(2, frame(3, 1));
  clock.advance(Duration::millis(20));  // the worker was busy for 20 ms
  auto b = c.collect(8, Duration::millis(10));
  ASSERT_EQ(b.size(), 1u);
  EXPECT_EQ(b[0].stream, 2);
}

TEST(BatchCollectorTest, MoreStreamsThanMaxBatchTakesTheLongestWaitingFirst) {
  FakeClock clock;
  BatchCollector c(3, clock);
  c.submit(2, frame(3, 1));
  clock.advance(Duration::millis(1));
  c.submit(0, frame(1, 1));
  clock.advance(Duration::millis(1));
  c.submit(1, frame(2, 1));
  auto b = c.collect(2, Duration::zero());
  ASSERT_EQ(b.size(), 2u);
  EXPECT_EQ(b[0].stream, 0);
  EXPECT_EQ(b[1].stream, 2);
  auto rest = c.collect(2, Duration::zero());
  ASSERT_EQ(rest.size(), 1u);
  EXPECT_EQ(rest[0].stream, 1);
}

TEST(BatchCollectorTest, StopWakesAWaitingCollectAndRefusesLaterFrames) {
  orion::testing::Watchdog dog(Duration::seconds(20), "BatchCollector::collect");
  FakeClock clock;
  BatchCollector c(2, clock);
  auto fut = std::async(std::launch::async, [&] { return c.collect(4, Duration::millis(5)); });
  ASSERT_TRUE(clock.wait_for_waiters(1));
  c.stop();
  EXPECT_TRUE(fut.get().empty());
  EXPECT_FALSE(c.submit(0, frame(1, 1)));
  EXPECT_TRUE(c.collect(4, Duration::zero()).empty());
}

}  // namespace
}  // namespace orion::gpu
