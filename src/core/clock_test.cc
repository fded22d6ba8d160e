// The Clock contract: SteadyClock waits in real time and honours stop tokens; FakeClock
// releases its waiters only when advanced past their deadlines, in deadline order, and never
// loses a wake-up. The FakeClock tests never depend on real time passing: each step waits for
// a condition (a thread registered as a waiter, a thread finished) and a watchdog ends a hang.
#include "core/clock.h"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <stop_token>
#include <thread>
#include <vector>

#include "testing/watchdog.h"

namespace orion {
namespace {

using orion::testing::Watchdog;

constexpr Duration kHour = Duration::seconds(3600);

// A thread that sleeps through `clock` until `deadline` and records the outcome.
struct Sleeper {
  Sleeper(const Clock& clock, Timestamp deadline)
      : thread([this, &clock, deadline](std::stop_token st) {
          reached = clock.sleep_until(deadline, st);
          woke_at = clock.now();
          done.store(true);
        }) {}
  std::atomic<bool> done{false};
  bool reached = false;
  Timestamp woke_at;
  std::jthread thread;
};

TEST(Clock, DeadlineAfterSaturatesAtNever) {
  FakeClock clock;
  EXPECT_EQ(clock.deadline_after(Duration::millis(5)), clock.now() + Duration::millis(5));
  EXPECT_EQ(clock.deadline_after(Duration::max()), Clock::kNever);
  EXPECT_EQ(SteadyClock::instance().deadline_after(Duration::max()), Clock::kNever);
}

TEST(FakeClock, MovesOnlyWhenAdvancedOrSet) {
  FakeClock clock;
  const Timestamp t0 = clock.now();
  EXPECT_EQ(clock.now(), t0);
  clock.advance(Duration::millis(5));
  EXPECT_EQ(clock.now() - t0, Duration::millis(5));
  clock.set(t0 + Duration::seconds(2));
  EXPECT_EQ(clock.now(), t0 + Duration::seconds(2));
}

TEST(FakeClock, ASleeperIsReleasedOnlyWhenTheClockReachesItsDeadline) {
  Watchdog dog(Duration::seconds(30), "fake clock sleeper");
  FakeClock clock;
  const Timestamp deadline = clock.now() + Duration::millis(100);
  Sleeper s(clock, deadline);
  ASSERT_TRUE(clock.wait_for_waiters(1));
  EXPECT_EQ(clock.next_deadline(), deadline);
  clock.advance(Duration::millis(99));
  EXPECT_EQ(clock.waiters(), 1u);  // not due yet: still registered, so still blocked
  EXPECT_FALSE(s.done.load());
  EXPECT_EQ(clock.released(), 0u);
  clock.advance(Duration::millis(1));
  EXPECT_EQ(clock.waiters(), 0u);  // released by advance() itself, before its thread runs
  EXPECT_EQ(clock.released(), 1u);
  s.thread.join();
  EXPECT_TRUE(s.reached);
  EXPECT_EQ(s.woke_at, deadline);
}

TEST(FakeClock, ADeadlineAlreadyPassedDoesNotWait) {
  FakeClock clock;
  EXPECT_TRUE(clock.sleep_until(clock.now()));
  EXPECT_TRUE(clock.sleep_for(Duration::zero()));
  EXPECT_TRUE(clock.sleep_for(Duration::millis(-5)));
  EXPECT_EQ(clock.waiters(), 0u);
}

TEST(FakeClock, WaitersAreReleasedInDeadlineOrder) {
  Watchdog dog(Duration::seconds(30), "fake clock deadline order");
  FakeClock clock;
  const Timestamp t0 = clock.now();
  const Duration offsets[] = {Duration::millis(30), Duration::millis(10), Duration::millis(20)};
  std::vector<std::unique_ptr<Sleeper>> sleepers;
  for (Duration d : offsets) {
    sleepers.push_back(std::make_unique<Sleeper>(clock, t0 + d));
    ASSERT_TRUE(clock.wait_for_waiters(sleepers.size()));
  }
  // Step from deadline to deadline: 10 ms (sleeper 1), 20 ms (sleeper 2), 30 ms (sleeper 0).
  for (size_t expect : {1u, 2u, 0u}) {
    ASSERT_EQ(clock.next_deadline(), t0 + offsets[expect]);
    ASSERT_TRUE(clock.advance_to_next_deadline());
    EXPECT_EQ(clock.now(), t0 + offsets[expect]);
    sleepers[expect]->thread.join();
    EXPECT_TRUE(sleepers[expect]->reached);
    EXPECT_EQ(sleepers[expect]->woke_at, t0 + offsets[expect]);
    for (size_t i = 0; i < sleepers.size(); ++i) {
      if (sleepers[i]->thread.joinable()) {
        EXPECT_FALSE(sleepers[i]->done.load()) << i;
      }
    }
  }
  EXPECT_FALSE(clock.advance_to_next_deadline());  // nobody left
  EXPECT_EQ(clock.released(), 3u);
}

TEST(FakeClock, OneAdvanceReleasesEveryWaiterDueAndNoOther) {
  Watchdog dog(Duration::seconds(30), "fake clock partial release");
  FakeClock clock;
  const Timestamp t0 = clock.now();
  Sleeper a(clock, t0 + Duration::millis(10));
  Sleeper b(clock, t0 + Duration::millis(20));
  Sleeper c(clock, t0 + Duration::millis(30));
  ASSERT_TRUE(clock.wait_for_waiters(3));
  clock.advance(Duration::millis(25));
  EXPECT_EQ(clock.waiters(), 1u);
  EXPECT_EQ(clock.next_deadline(), t0 + Duration::millis(30));
  a.thread.join();
  b.thread.join();
  EXPECT_TRUE(a.reached && b.reached);
  EXPECT_FALSE(c.done.load());
  clock.set(t0 + Duration::millis(30));
  c.thread.join();
  EXPECT_TRUE(c.reached);
}

TEST(FakeClock, SettingTimeBackwardsReleasesNobody) {
  Watchdog dog(Duration::seconds(30), "fake clock backwards");
  FakeClock clock;
  const Timestamp t0 = clock.now();
  Sleeper s(clock, t0 + Duration::millis(10));
  ASSERT_TRUE(clock.wait_for_waiters(1));
  clock.set(t0 - Duration::millis(500));
  EXPECT_EQ(clock.waiters(), 1u);
  clock.set(t0 + Duration::millis(10));
  s.thread.join();
  EXPECT_TRUE(s.reached);
}

TEST(FakeClock, AStopRequestInterruptsASleepWithoutMovingTime) {
  Watchdog dog(Duration::seconds(30), "fake clock stop");
  FakeClock clock;
  const Timestamp t0 = clock.now();
  Sleeper s(clock, Clock::kNever);
  ASSERT_TRUE(clock.wait_for_waiters(1));
  EXPECT_EQ(clock.next_deadline(), std::nullopt);  // waiting without a deadline
  EXPECT_FALSE(clock.advance_to_next_deadline());
  s.thread.request_stop();
  s.thread.join();
  EXPECT_FALSE(s.reached);
  EXPECT_EQ(s.woke_at, t0);
  EXPECT_EQ(clock.waiters(), 0u);
  EXPECT_EQ(clock.released(), 0u);
}

TEST(FakeClock, AStopAlreadyRequestedReturnsAtOnce) {
  FakeClock clock;
  std::stop_source stop;
  stop.request_stop();
  EXPECT_FALSE(clock.sleep_for(kHour, stop.get_token()));
  std::mutex mu;
  std::condition_variable_any cv;
  std::unique_lock lock(mu);
  EXPECT_FALSE(clock.wait_for(cv, lock, kHour, stop.get_token(), [] { return false; }));
  EXPECT_TRUE(clock.wait_for(cv, lock, kHour, stop.get_token(), [] { return true; }));
  EXPECT_EQ(clock.waiters(), 0u);
}

// A thread waiting for `ready` (or a deadline) through `clock`.
struct ConditionWaiter {
  ConditionWaiter(const Clock& clock, Timestamp deadline)
      : thread([this, &clock, deadline](std::stop_token st) {
          // The UniqueLock overload (two other tests use the std::unique_lock<std::mutex> one).
          UniqueLock lock(mu);
          result = clock.wait_until(cv, lock, deadline, st, [this] {
            mu.assert_held();  // the predicate runs with mu held
            return ready;
          });
          done.store(true);
        }) {}
  void make_ready() {
    {
      MutexLock lock(mu);
      ready = true;
    }
    cv.notify_all();
  }
  Mutex mu;
  std::condition_variable_any cv;
  bool ready GUARDED_BY(mu) = false;
  bool result = false;  // written by the thread, read after it is joined
  std::atomic<bool> done{false};
  std::jthread thread;
};

TEST(FakeClock, AConditionWaitEndsWhenTheConditionHoldsBeforeTheDeadline) {
  Watchdog dog(Duration::seconds(30), "fake clock condition");
  FakeClock clock;
  ConditionWaiter w(clock, clock.now() + kHour);
  ASSERT_TRUE(clock.wait_for_waiters(1));
  w.make_ready();
  w.thread.join();
  EXPECT_TRUE(w.result);
  EXPECT_EQ(clock.waiters(), 0u);   // it deregistered on its way out
  EXPECT_EQ(clock.released(), 0u);  // the clock did not release it
}

TEST(FakeClock, AConditionWaitReturnsFalseAtTheDeadline) {
  Watchdog dog(Duration::seconds(30), "fake clock condition deadline");
  FakeClock clock;
  ConditionWaiter w(clock, clock.now() + Duration::millis(50));
  ASSERT_TRUE(clock.wait_for_waiters(1));
  clock.advance(Duration::millis(50));
  w.thread.join();
  EXPECT_FALSE(w.result);
  EXPECT_EQ(clock.released(), 1u);
}

TEST(FakeClock, AConditionWaitIsInterruptedByItsStopToken) {
  Watchdog dog(Duration::seconds(30), "fake clock condition stop");
  FakeClock clock;
  ConditionWaiter w(clock, clock.now() + kHour);
  ASSERT_TRUE(clock.wait_for_waiters(1));
  w.thread.request_stop();
  w.thread.join();
  EXPECT_FALSE(w.result);
  EXPECT_EQ(clock.waiters(), 0u);
}

// An advance racing a waiter that is on its way to block (no wait_for_waiters in between):
// either the waiter registers first and the advance releases it, or it sees the new time.
// A lost wake-up would leave a thread blocked for ever (the watchdog ends the test).
TEST(FakeClock, AnAdvanceRacingAWaiterIsNeverLost) {
  Watchdog dog(Duration::seconds(60), "fake clock lost wake-up");
  FakeClock clock;
  for (int i = 0; i < 2000; ++i) {
    const Timestamp deadline = clock.now() + Duration::millis(1);
    std::thread t([&] { EXPECT_TRUE(clock.sleep_until(deadline)); });
    clock.advance(Duration::millis(1));
    t.join();
  }
  EXPECT_EQ(clock.waiters(), 0u);
}

// The same race for a condition made true (under the lock, then notified) while the waiter
// is on its way to block through the fake clock.
TEST(FakeClock, ANotifyRacingAWaiterIsNeverLost) {
  Watchdog dog(Duration::seconds(60), "fake clock lost notify");
  FakeClock clock;
  for (int i = 0; i < 2000; ++i) {
    ConditionWaiter w(clock, Clock::kNever);
    w.make_ready();
    w.thread.join();
    ASSERT_TRUE(w.result) << i;
  }
  EXPECT_EQ(clock.waiters(), 0u);
}

TEST(FakeClock, WaitForWaitersGivesUpAfterItsLimit) {
  FakeClock clock;
  EXPECT_FALSE(clock.wait_for_waiters(1, Duration::millis(10)));
  EXPECT_TRUE(clock.wait_for_waiters(0, Duration::millis(10)));
}

TEST(SteadyClock, SleepsInRealTimeUntilTheDeadline) {
  const auto& c = SteadyClock::instance();
  const Timestamp deadline = c.now() + Duration::millis(20);
  EXPECT_TRUE(c.sleep_until(deadline));
  EXPECT_GE(c.now(), deadline);
}

TEST(SteadyClock, AConditionWaitTimesOutAtTheDeadline) {
  const auto& c = SteadyClock::instance();
  std::mutex mu;
  std::condition_variable_any cv;
  std::unique_lock lock(mu);
  const Timestamp deadline = c.now() + Duration::millis(20);
  EXPECT_FALSE(c.wait_until(cv, lock, deadline, {}, [] { return false; }));
  EXPECT_GE(c.now(), deadline);
}

TEST(SteadyClock, AStopRequestInterruptsAnHourLongSleep) {
  Watchdog dog(Duration::seconds(30), "steady clock stop");
  Sleeper s(SteadyClock::instance(), SteadyClock::instance().now() + kHour);
  s.thread.request_stop();  // before or during the wait: either way it returns at once
  s.thread.join();
  EXPECT_FALSE(s.reached);
}

TEST(SteadyClock, AConditionWaitEndsWhenTheConditionHolds) {
  Watchdog dog(Duration::seconds(30), "steady clock condition");
  ConditionWaiter w(SteadyClock::instance(), Clock::kNever);
  w.make_ready();
  w.thread.join();
  EXPECT_TRUE(w.result);
}

}  // namespace
}  // namespace orion
