// The FrameSupplier contract, one fact per test. Time comes from a FakeClock; nothing sleeps.
// Where a test must know the distribution thread has run, it blocks in next_frame() (which
// returns as soon as the frame is delivered) rather than sleeping.
#include "core/frame_supplier.h"

#include <gtest/gtest.h>
#include <sched.h>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <optional>
#include <sstream>
#include <stdexcept>
#include <thread>

#include "core/frame_pool.h"
#include "testing/frames.h"
#include "testing/watchdog.h"

namespace orion {
namespace {

using testing::make_frame;

// Upper bound of a wait that must succeed. On the fake clock it is never reached unless a
// test advances the clock that far; the watchdog ends a wait that hangs.
constexpr Duration kWait = Duration::seconds(10);

class FrameSupplierTest : public ::testing::Test {
 protected:
  FramePtr frame(uint64_t seq) { return make_frame(pool_, seq, clock_.now()); }

  // Publishes and waits until `sub` holds it (the distribution thread ran).
  FramePtr publish_and_take(FrameSupplier& s, Subscription& sub, uint64_t seq) {
    EXPECT_TRUE(s.publish(frame(seq)));
    auto r = sub.next_frame(kWait);
    EXPECT_TRUE(r.ok());
    return r.ok() ? *r : nullptr;
  }

  FrameSupplierOptions options(size_t threshold = 8) {
    FrameSupplierOptions o;
    o.clock = &clock_;
    o.sequential_threshold = threshold;
    return o;
  }

  // Waits (bounded) until the distribution thread has delivered `n` frames.
  static void await_distributed(const FrameSupplier& s, uint64_t n) {
    while (s.stats().distributed < n) std::this_thread::yield();
  }

  FakeClock clock_;
  HeapFramePool pool_;
  orion::testing::Watchdog watchdog_{Duration::seconds(60), "frame_supplier_test"};
};

TEST_F(FrameSupplierTest, NextFrameReturnsThePublishedFrameWithoutCopying) {
  FrameSupplier s(options());
  auto sub = s.subscribe("w");
  FramePtr f = frame(1);
  const Frame* raw = f.get();
  ASSERT_TRUE(s.publish(f));
  auto got = sub->next_frame(kWait);
  ASSERT_TRUE(got.ok());
  EXPECT_EQ(got->get(), raw);
}

TEST_F(FrameSupplierTest, NextFrameNeverReturnsTheSameFrameTwice) {
  FrameSupplier s(options());
  auto sub = s.subscribe("w");
  publish_and_take(s, *sub, 1);
  auto again = sub->try_next_frame();
  ASSERT_FALSE(again.ok());
  EXPECT_EQ(again.error().code, "empty");
}

// The timeout is measured on the supplier's clock: the wait ends when the fake clock passes it.
TEST_F(FrameSupplierTest, NextFrameTimesOutWhenTheClockPassesTheTimeout) {
  FrameSupplier s(options());
  auto sub = s.subscribe("w");
  std::optional<Result<FramePtr>> r;
  std::thread t([&] { r = sub->next_frame(Duration::millis(40)); });
  ASSERT_TRUE(clock_.wait_for_waiters(1));  // blocked in next_frame()
  clock_.advance(Duration::millis(39));
  EXPECT_EQ(clock_.waiters(), 1u);  // 1 ms short of the timeout: still waiting
  clock_.advance(Duration::millis(1));
  t.join();
  ASSERT_TRUE(r.has_value());
  ASSERT_FALSE(r->ok());
  EXPECT_EQ(r->error().code, "timeout");
}

TEST_F(FrameSupplierTest, AFramePublishedDuringATimedWaitEndsItBeforeTheTimeout) {
  FrameSupplier s(options());
  auto sub = s.subscribe("w");
  std::optional<Result<FramePtr>> r;
  std::thread t([&] { r = sub->next_frame(Duration::millis(40)); });
  ASSERT_TRUE(clock_.wait_for_waiters(1));
  ASSERT_TRUE(s.publish(frame(1)));  // the clock never moves
  t.join();
  ASSERT_TRUE(r.has_value());
  ASSERT_TRUE(r->ok()) << r->error().to_string();
  EXPECT_EQ((**r)->identity().sequence, 1u);
  EXPECT_EQ(clock_.waiters(), 0u);
}

TEST_F(FrameSupplierTest, ATimedWaitEndsWhenTheSupplierStops) {
  FrameSupplier s(options());
  auto sub = s.subscribe("w");
  std::optional<Result<FramePtr>> r;
  std::thread t([&] { r = sub->next_frame(Duration::millis(40)); });
  ASSERT_TRUE(clock_.wait_for_waiters(1));
  s.stop();
  t.join();
  ASSERT_TRUE(r.has_value());
  ASSERT_FALSE(r->ok());
  EXPECT_EQ(r->error().code, "closed");
}

TEST_F(FrameSupplierTest, ASlowSubscriberGetsOnlyTheNewestFrame) {
  FrameSupplier s(options());
  auto slow = s.subscribe("slow");
  auto pacer = s.subscribe("pacer");
  for (uint64_t seq = 1; seq <= 5; ++seq) publish_and_take(s, *pacer, seq);
  auto got = slow->next_frame(kWait);
  ASSERT_TRUE(got.ok());
  EXPECT_EQ((*got)->identity().sequence, 5u);
}

TEST_F(FrameSupplierTest, OverwrittenFramesAreCountedAsDropped) {
  FrameSupplier s(options());
  auto slow = s.subscribe("slow");
  auto pacer = s.subscribe("pacer");
  for (uint64_t seq = 1; seq <= 5; ++seq) publish_and_take(s, *pacer, seq);
  auto st = slow->stats();
  EXPECT_EQ(st.offered, 5u);
  EXPECT_EQ(st.dropped, 4u);
  EXPECT_EQ(st.pending, 1u);
  EXPECT_EQ(st.taken, 0u);
}

// A queue (depth > 1) is fed by publish() itself: a burst published before anyone takes
// anything, which the inbox would collapse to its newest, reaches it whole and in order.
TEST_F(FrameSupplierTest, AQueueGetsEveryFrameOfABurstInOrder) {
  FrameSupplier s(options());
  auto queue = s.subscribe("compositor", SlaClass::kCritical, 3);
  auto mailbox = s.subscribe("worker");
  for (uint64_t seq = 1; seq <= 3; ++seq) ASSERT_TRUE(s.publish(frame(seq)));
  for (uint64_t seq = 1; seq <= 3; ++seq) {
    auto got = queue->next_frame(kWait);
    ASSERT_TRUE(got.ok());
    EXPECT_EQ((*got)->identity().sequence, seq);
  }
  EXPECT_EQ(queue->try_next_frame().error().code, "empty");
  auto newest = mailbox->next_frame(kWait);
  ASSERT_TRUE(newest.ok());
  await_distributed(s, 1);
  const SubscriberStats st = queue->stats();
  EXPECT_EQ(st.offered, 3u);
  EXPECT_EQ(st.taken, 3u);
  EXPECT_EQ(st.dropped, 0u);
}

TEST_F(FrameSupplierTest, AFullQueueDropsItsOldestFrameAndCountsIt) {
  FrameSupplier s(options());
  auto queue = s.subscribe("compositor", SlaClass::kCritical, 3);
  for (uint64_t seq = 1; seq <= 5; ++seq) ASSERT_TRUE(s.publish(frame(seq)));
  SubscriberStats st = queue->stats();
  EXPECT_EQ(st.offered, 5u);
  EXPECT_EQ(st.dropped, 2u);
  EXPECT_EQ(st.pending, 3u);
  EXPECT_EQ(st.offered, st.taken + st.dropped + st.pending);
  for (uint64_t seq = 3; seq <= 5; ++seq) {
    auto got = queue->try_next_frame();
    ASSERT_TRUE(got.ok());
    EXPECT_EQ((*got)->identity().sequence, seq);
  }
  queue->unsubscribe();
  EXPECT_EQ(queue->next_frame(kWait).error().code, "closed");
  st = queue->stats();
  EXPECT_EQ(st.offered, st.taken + st.dropped + st.pending);
}

TEST_F(FrameSupplierTest, AQueueNeverGetsTheSameFrameTwiceOrAnOlderOne) {
  FrameSupplier s(options());
  auto pacer = s.subscribe("pacer");
  publish_and_take(s, *pacer, 1);
  await_distributed(s, 1);
  // Starts with the newest distributed frame (1), like a mailbox; then only newer ones.
  auto queue = s.subscribe("compositor", SlaClass::kCritical, 4);
  EXPECT_FALSE(s.publish(frame(1)));
  publish_and_take(s, *pacer, 2);
  std::vector<uint64_t> seen;
  while (auto got = queue->try_next_frame()) seen.push_back((*got)->identity().sequence);
  EXPECT_EQ(seen, (std::vector<uint64_t>{1, 2}));
}

TEST_F(FrameSupplierTest, StatisticsConserveOfferedEqualsTakenPlusDroppedPlusPending) {
  FrameSupplier s(options());
  auto sub = s.subscribe("w");
  auto pacer = s.subscribe("pacer");
  for (uint64_t seq = 1; seq <= 20; ++seq) {
    publish_and_take(s, *pacer, seq);
    if (seq % 3 == 0) {
      ASSERT_TRUE(sub->try_next_frame().ok());
    }
    auto st = sub->stats();
    EXPECT_EQ(st.offered, st.taken + st.dropped + st.pending) << "after frame " << seq;
  }
}

TEST_F(FrameSupplierTest, PublishRejectsAFrameOlderThanTheLastAccepted) {
  FrameSupplier s(options());
  EXPECT_TRUE(s.publish(frame(5)));
  EXPECT_FALSE(s.publish(frame(4)));
  EXPECT_FALSE(s.publish(frame(5)));
  EXPECT_EQ(s.stats().rejected_stale, 2u);
  EXPECT_EQ(s.stats().published, 1u);
}

TEST_F(FrameSupplierTest, PublishReturnsWithoutASubscriberTakingAnything) {
  FrameSupplier s(options());
  auto never_reads = s.subscribe("never");
  for (uint64_t seq = 1; seq <= 1000; ++seq) ASSERT_TRUE(s.publish(frame(seq)));
  EXPECT_EQ(s.stats().published, 1000u);
}

TEST_F(FrameSupplierTest, ANewSubscriberStartsWithTheNewestDistributedFrame) {
  FrameSupplier s(options());
  auto pacer = s.subscribe("pacer");
  publish_and_take(s, *pacer, 1);
  publish_and_take(s, *pacer, 2);
  auto late = s.subscribe("late");
  auto got = late->try_next_frame();
  ASSERT_TRUE(got.ok());
  EXPECT_EQ((*got)->identity().sequence, 2u);
}

TEST_F(FrameSupplierTest, UnsubscribedMailboxReturnsClosedAndGetsNoMoreFrames) {
  FrameSupplier s(options());
  auto sub = s.subscribe("w");
  auto pacer = s.subscribe("pacer");
  sub->unsubscribe();
  publish_and_take(s, *pacer, 1);
  auto r = sub->next_frame(kWait);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, "closed");
  EXPECT_EQ(sub->stats().offered, 0u);
  EXPECT_EQ(s.subscriber_count(), 1u);
}

TEST_F(FrameSupplierTest, DestroyingASubscriptionUnsubscribes) {
  FrameSupplier s(options());
  { auto sub = s.subscribe("w"); EXPECT_EQ(s.subscriber_count(), 1u); }
  EXPECT_EQ(s.subscriber_count(), 0u);
}

TEST_F(FrameSupplierTest, StopWakesABlockedSubscriberWithClosed) {
  FrameSupplier s(options());
  auto sub = s.subscribe("w");
  std::atomic<bool> got_closed{false};
  std::thread t([&] {
    auto r = sub->next_frame(kWait);
    got_closed = !r.ok() && r.error().code == "closed";
  });
  s.stop();
  t.join();
  EXPECT_TRUE(got_closed);
}

TEST_F(FrameSupplierTest, PublishAfterStopIsRefused) {
  FrameSupplier s(options());
  s.stop();
  EXPECT_FALSE(s.publish(frame(1)));
}

TEST_F(FrameSupplierTest, SubscribeAfterStopGivesAClosedSubscription) {
  FrameSupplier s(options());
  s.stop();
  auto sub = s.subscribe("late");
  auto r = sub->try_next_frame();
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, "closed");
}

TEST_F(FrameSupplierTest, APendingFrameIsCountedAsDroppedWhenTheMailboxCloses) {
  FrameSupplier s(options());
  auto sub = s.subscribe("w");
  auto pacer = s.subscribe("pacer");
  publish_and_take(s, *pacer, 1);
  s.stop();
  auto st = sub->stats();
  EXPECT_EQ(st.offered, 1u);
  EXPECT_EQ(st.dropped, 1u);
  EXPECT_EQ(st.pending, 0u);
  EXPECT_TRUE(st.closed);
}

TEST_F(FrameSupplierTest, SubscriptionsMayOutliveTheSupplier) {
  std::unique_ptr<Subscription> sub;
  {
    FrameSupplier s(options());
    sub = s.subscribe("w");
  }
  auto r = sub->next_frame(kWait);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, "closed");
}

TEST_F(FrameSupplierTest, FramesAreReleasedOnceNoSubscriberHoldsThem) {
  FrameSupplier s(options());
  auto sub = s.subscribe("w");
  publish_and_take(s, *sub, 1);   // taken and dropped by the test at once
  publish_and_take(s, *sub, 2);
  s.stop();
  // The supplier keeps the newest distributed frame for late subscribers until stop().
  EXPECT_EQ(pool_.stats().in_use, 0u);
}

TEST_F(FrameSupplierTest, TakeRecordsTimeAndAgeFromTheInjectedClock) {
  FrameSupplier s(options());
  auto sub = s.subscribe("w");
  auto pacer = s.subscribe("pacer");
  publish_and_take(s, *pacer, 1);  // frame 1 captured at t0 and now pending in `sub`
  const Timestamp t0 = clock_.now();
  clock_.advance(Duration::millis(40));
  ASSERT_TRUE(sub->try_next_frame().ok());
  auto st = sub->stats();
  EXPECT_EQ(st.last_take_time, t0 + Duration::millis(40));
  EXPECT_EQ(st.last_frame_age, Duration::millis(40));
  EXPECT_EQ(st.max_frame_age, Duration::millis(40));
}

TEST_F(FrameSupplierTest, SubscriberKeepsItsNameAndSlaClass) {
  FrameSupplier s(options());
  auto sub = s.subscribe("people", SlaClass::kCritical);
  auto st = s.stats();
  ASSERT_EQ(st.subscribers.size(), 1u);
  EXPECT_EQ(st.subscribers[0].name, "people");
  EXPECT_EQ(st.subscribers[0].sla, SlaClass::kCritical);
}

TEST_F(FrameSupplierTest, EverySubscriberAboveTheThresholdIsWokenThroughTheNotifiers) {
  FrameSupplier s(options(/*threshold=*/2));
  constexpr int kSubs = 9;  // 5 batches of 2 (one inline, four on the notifier threads)
  std::vector<std::unique_ptr<Subscription>> subs;
  for (int i = 0; i < kSubs; ++i) subs.push_back(s.subscribe("w" + std::to_string(i)));
  std::atomic<int> woken{0};
  std::vector<std::thread> threads;
  std::atomic<int> ready{0};
  for (auto& sub : subs)
    threads.emplace_back([&, p = sub.get()] {
      ++ready;
      auto r = p->next_frame(kWait);
      if (r.ok() && (*r)->identity().sequence == 1) ++woken;
    });
  while (ready < kSubs) std::this_thread::yield();
  // Blocked or not, each thread returns the frame: the test checks no one is left asleep.
  ASSERT_TRUE(s.publish(frame(1)));
  for (auto& t : threads) t.join();
  EXPECT_EQ(woken.load(), kSubs);
  // Whether the notifiers were needed depends on how many threads were asleep at delivery;
  // either way nobody was left asleep (checked above).
  EXPECT_LE(s.stats().notifier_threads, 2u);
}

TEST_F(FrameSupplierTest, NotifierThreadsStartOnlyWhenMoreThanTheThresholdMustBeWoken) {
  FrameSupplier s(options(/*threshold=*/8));
  auto sub = s.subscribe("w");
  publish_and_take(s, *sub, 1);
  EXPECT_EQ(s.stats().notifier_threads, 0u);
}

// Scheduling policy of this process's thread named `comm`, from /proc; -1 when not found.
int policy_of_thread(const std::string& comm) {
  for (const auto& e : std::filesystem::directory_iterator("/proc/self/task")) {
    std::ifstream c(e.path() / "comm");
    std::string name;
    std::getline(c, name);
    if (name != comm) continue;
    std::ifstream st(e.path() / "stat");
    std::string all((std::istreambuf_iterator<char>(st)), std::istreambuf_iterator<char>());
    // Field 41 (policy) counted after the ")" that closes the command name.
    std::istringstream rest(all.substr(all.rfind(')') + 2));
    std::string field;
    for (int i = 3; i <= 41 && rest >> field; ++i) {
    }
    return std::stoi(field);
  }
  return -1;
}

TEST_F(FrameSupplierTest, DistributionThreadRunsUnderBatchSchedulingByDefault) {
  FrameSupplierOptions o = options();
  o.name = "schedtest";
  FrameSupplier s(o);
  auto sub = s.subscribe("w");
  publish_and_take(s, *sub, 1);  // the thread has set its policy before distributing
  EXPECT_EQ(policy_of_thread("schedtest-dist"), SCHED_BATCH);
}

TEST_F(FrameSupplierTest, BatchSchedulingCanBeTurnedOff) {
  FrameSupplierOptions o = options();
  o.name = "schedoff";
  o.batch_scheduling = false;
  FrameSupplier s(o);
  auto sub = s.subscribe("w");
  publish_and_take(s, *sub, 1);
  EXPECT_EQ(policy_of_thread("schedoff-dist"), SCHED_OTHER);
}

TEST_F(FrameSupplierTest, SupplierStatsCountDistributions) {
  FrameSupplier s(options());
  auto sub = s.subscribe("w");
  publish_and_take(s, *sub, 1);
  publish_and_take(s, *sub, 2);
  await_distributed(s, 2);
  EXPECT_EQ(s.stats().distributed, 2u);
}

TEST_F(FrameSupplierTest, AnExceptionOnTheDistributionThreadStopsTheSupplierAndSaysWhy) {
  FrameSupplierOptions o = options();
  o.on_mailboxes_written = [](const FramePtr&, Timestamp, Timestamp) {
    throw std::runtime_error("probe broke");
  };
  FrameSupplier s(o);
  auto sub = s.subscribe("w");
  ASSERT_TRUE(s.publish(frame(1)));
  // The frame was written before the callback threw: it may be taken before the mailbox closes.
  Result<FramePtr> r = sub->next_frame(kWait);
  if (r.ok()) r = sub->next_frame(kWait);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, "closed");
  const std::string failure = s.stats().failure;
  EXPECT_NE(failure.find("distribution thread"), std::string::npos) << failure;
  EXPECT_NE(failure.find("probe broke"), std::string::npos) << failure;
  EXPECT_FALSE(s.publish(frame(2)));
  auto late = s.subscribe("late")->try_next_frame();
  ASSERT_FALSE(late.ok());
  EXPECT_EQ(late.error().code, "closed");
}

TEST_F(FrameSupplierTest, AHealthySupplierReportsNoFailure) {
  FrameSupplier s(options());
  auto sub = s.subscribe("w");
  publish_and_take(s, *sub, 1);
  s.stop();
  EXPECT_EQ(s.stats().failure, "");
}

TEST(SlaClass, ParsesBothSpellingsAndRejectsOthers) {
  EXPECT_EQ(*parse_sla("critical"), SlaClass::kCritical);
  EXPECT_EQ(*parse_sla("best_effort"), SlaClass::kBestEffort);
  auto bad = parse_sla("gold");
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.error().message.find("gold"), std::string::npos);
}

}  // namespace
}  // namespace orion
