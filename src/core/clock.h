// Clock: where "now" comes from, and how a thread waits for a point in time. Production code
// takes a Clock& and waits through it, so a test can inject FakeClock and advance time by hand
// instead of sleeping: every thread waiting on a FakeClock is released when the test moves the
// clock past its deadline (the models: GStreamer's GstTestClock, MediaPipe's SimulationClock).
//
// Two ways to wait:
//   sleep_until(deadline, stop)            a pure timer: returns when the deadline is reached
//                                          (true) or `stop` is requested first (false);
//   wait_until(cv, lock, deadline, stop, pred)
//                                          condition or deadline, whichever first: returns
//                                          pred() (true: the condition holds; false: the
//                                          deadline passed or `stop` was requested first).
// A component that waits through a Clock uses a std::condition_variable_any (not a
// std::condition_variable: the clock wakes it through a stop token, which only the `_any`
// variant can wait on without a lost wake-up) and an orion::UniqueLock on an orion::Mutex
// (core/thread_annotations.h; a std::unique_lock<std::mutex> works too). The waker changes
// what `pred` reads while holding that mutex, then notifies `cv`, as with any condition
// variable. `pred` is called with the lock held: a predicate that reads fields GUARDED_BY the
// mutex starts with mu.assert_held(), since the analysis looks at a lambda on its own.
//
// Deadlines are Timestamps on the clock's own timeline: compute them with deadline_after(),
// which saturates, so deadline_after(Duration::max()) is kNever (wait without a time limit).
//
// Thread-safety: every member of every implementation is thread-safe. now() never blocks.
// Lifetime: a Clock must outlive every object that was given a reference to it, and every
// thread waiting through it.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <map>
#include <mutex>
#include <optional>
#include <stop_token>
#include <utility>
#include <vector>

#include "core/thread_annotations.h"
#include "core/time.h"

namespace orion {

class Clock {
 public:
  // A deadline that is never reached (no time limit).
  static constexpr Timestamp kNever = Timestamp::from_nanos(std::numeric_limits<int64_t>::max());

  virtual ~Clock() = default;
  virtual Timestamp now() const = 0;

  // now() + d, saturating: kNever when that is beyond the end of time (Duration::max()).
  Timestamp deadline_after(Duration d) const;

  // Blocks until now() >= deadline (returns true) or `stop` is requested first (returns false).
  // A deadline already passed returns true at once; a stop already requested returns false at
  // once unless the deadline has passed.
  bool sleep_until(Timestamp deadline, const std::stop_token& stop = {}) const;
  bool sleep_for(Duration d, const std::stop_token& stop = {}) const {
    return sleep_until(deadline_after(d), stop);
  }

  // Condition or deadline, whichever first. Precondition: `lock` owns its mutex (it is owned
  // again on return). Returns true as soon as pred() holds (without waiting when it already
  // does); false when the deadline passed or `stop` was requested with pred() still false.
  template <class Pred>
  bool wait_until(std::condition_variable_any& cv, std::unique_lock<std::mutex>& lock,
                  Timestamp deadline, const std::stop_token& stop, Pred pred) const {
    if (pred()) return true;
    return wait_impl(cv, lock, deadline, stop, Predicate(pred));
  }
  template <class Pred>
  bool wait_for(std::condition_variable_any& cv, std::unique_lock<std::mutex>& lock, Duration d,
                const std::stop_token& stop, Pred pred) const {
    return wait_until(cv, lock, deadline_after(d), stop, std::move(pred));
  }
  // The same through an annotated lock (its std::unique_lock is unlocked and relocked inside).
  template <class Pred>
  bool wait_until(std::condition_variable_any& cv, UniqueLock& lock, Timestamp deadline,
                  const std::stop_token& stop, Pred pred) const {
    return wait_until(cv, lock.native(), deadline, stop, std::move(pred));
  }
  template <class Pred>
  bool wait_for(std::condition_variable_any& cv, UniqueLock& lock, Duration d,
                const std::stop_token& stop, Pred pred) const {
    return wait_until(cv, lock.native(), deadline_after(d), stop, std::move(pred));
  }

 protected:
  // A borrowed, non-owning view of the caller's predicate (no allocation per wait).
  class Predicate {
   public:
    template <class F>
    explicit Predicate(F& f)
        : obj_(&f), call_(+[](void* o) { return static_cast<bool>((*static_cast<F*>(o))()); }) {}
    bool operator()() const { return call_(obj_); }

   private:
    void* obj_;
    bool (*call_)(void*);
  };

  // The waiting primitive behind wait_until (pred() was false on entry). Returns pred().
  virtual bool wait_impl(std::condition_variable_any& cv, std::unique_lock<std::mutex>& lock,
                         Timestamp deadline, const std::stop_token& stop,
                         const Predicate& pred) const = 0;
};

// CLOCK_MONOTONIC (std::chrono::steady_clock on Linux): comparable across processes. Waits are
// real-time waits of the condition variable (or of a private one, for sleep_until).
class SteadyClock final : public Clock {
 public:
  Timestamp now() const override;
  // The process-wide instance, for callers that are not handed a clock.
  static const SteadyClock& instance();

 protected:
  bool wait_impl(std::condition_variable_any& cv, std::unique_lock<std::mutex>& lock,
                 Timestamp deadline, const std::stop_token& stop,
                 const Predicate& pred) const override;
};

// A clock that only moves when told to. Starts at 1 s so that a Timestamp from it is "set".
//
// Waiting: a thread that waits through this clock is registered as a waiter (with its
// deadline, kNever when it has none) from the moment it has checked its condition until it
// returns. advance()/set() move the time and then release every waiter whose deadline is now
// reached, in deadline order (registration order among equal deadlines); a released waiter
// is no longer counted by waiters(), even before its thread has run. A waiter is also
// released by its stop token and by its condition variable, as with SteadyClock. A wake-up is
// never lost: a waiter registered before advance() returns is either released by it or sees
// the new time before it blocks.
//
// Test hooks (like GstTestClock's wait_for_next_pending_id): waiters(), wait_for_waiters(n)
// (block until n threads wait, so a test knows a component reached its wait), next_deadline()
// and advance_to_next_deadline() (step time from one deadline to the next).
//
// Time may be set backwards (set()); no waiter is released by that.
// Locks: mu_ is a leaf for the clock's callers (taken under a waiter's own mutex, never the
// other way round: waiter's mutex → FakeClock::mu_); the release itself
// (stop_source::request_stop, which notifies the waiter's condition variable) runs after mu_
// is dropped.
class FakeClock final : public Clock {
 public:
  explicit FakeClock(Timestamp start = Timestamp::from_nanos(1'000'000'000));
  ~FakeClock() override;
  FakeClock(const FakeClock&) = delete;
  FakeClock& operator=(const FakeClock&) = delete;

  Timestamp now() const override {
    return Timestamp::from_nanos(now_.load(std::memory_order_acquire));
  }
  // Moves the time forward by d (d >= 0) and releases the waiters whose deadline it reached.
  void advance(Duration d);
  // Moves the time to t and releases the waiters whose deadline is <= t.
  void set(Timestamp t);

  // Threads currently waiting through this clock and not yet released.
  size_t waiters() const;
  // Blocks (in real time, at most `limit`) until at least n threads wait through this clock.
  // Returns false when the limit passed first: the component never reached its wait.
  bool wait_for_waiters(size_t n, Duration limit = Duration::seconds(10)) const;
  // The earliest deadline of a waiter (waiters without a deadline are not counted), if any.
  std::optional<Timestamp> next_deadline() const;
  // Sets the time to next_deadline() (when it is later than now) and releases that waiter and
  // every other one due by then. Returns false, changing nothing, when no waiter has a deadline.
  bool advance_to_next_deadline();
  // How many waiters advance()/set() have released so far (not counting those that returned
  // through their condition or stop token).
  uint64_t released() const;

 protected:
  bool wait_impl(std::condition_variable_any& cv, std::unique_lock<std::mutex>& lock,
                 Timestamp deadline, const std::stop_token& stop,
                 const Predicate& pred) const override;

 private:
  // Sets the time to t and takes the waiters due by then out of waiting_, in release order.
  // The caller releases them (release()) after dropping mu_.
  std::vector<std::stop_source> move_to_locked(int64_t t) REQUIRES(mu_);
  static void release(std::vector<std::stop_source>& due);

  using Key = std::pair<int64_t, uint64_t>;  // (deadline ns, registration number)

  std::atomic<int64_t> now_;  // written under mu_; read without it by now() (an atomic)
  mutable Mutex mu_;
  mutable std::condition_variable registered_cv_;  // notified when a waiter registers
  mutable std::map<Key, std::stop_source> waiting_ GUARDED_BY(mu_);
  mutable uint64_t next_id_ GUARDED_BY(mu_) = 0;
  mutable uint64_t released_ GUARDED_BY(mu_) = 0;
};

}  // namespace orion
