// Clock: where "now" comes from. Production code takes a Clock& so tests can inject FakeClock
// and advance time by hand instead of sleeping.
//
// Thread-safety: all implementations are thread-safe.
// Lifetime: a Clock must outlive every object that was given a reference to it.
#pragma once

#include <atomic>

#include "core/time.h"

namespace orion {

class Clock {
 public:
  virtual ~Clock() = default;
  virtual Timestamp now() const = 0;
};

// CLOCK_MONOTONIC (std::chrono::steady_clock on Linux): comparable across processes.
class SteadyClock final : public Clock {
 public:
  Timestamp now() const override;
  // The process-wide instance, for callers that are not handed a clock.
  static const SteadyClock& instance();
};

// A clock that only moves when told to. Starts at 1 s so that a Timestamp from it is "set".
class FakeClock final : public Clock {
 public:
  explicit FakeClock(Timestamp start = Timestamp::from_nanos(1'000'000'000)) : now_(start.nanos()) {}
  Timestamp now() const override { return Timestamp::from_nanos(now_.load(std::memory_order_acquire)); }
  void advance(Duration d) { now_.fetch_add(d.count_nanos(), std::memory_order_acq_rel); }
  void set(Timestamp t) { now_.store(t.nanos(), std::memory_order_release); }

 private:
  std::atomic<int64_t> now_;
};

}  // namespace orion
