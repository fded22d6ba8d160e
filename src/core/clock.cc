#include "core/clock.h"

#include <algorithm>
#include <cassert>
#include <chrono>
#include <vector>

namespace orion {

// ---------------------------------------------------------------------------------------------
// Clock

Timestamp Clock::deadline_after(Duration d) const {
  constexpr int64_t kMax = std::numeric_limits<int64_t>::max();
  constexpr int64_t kMin = std::numeric_limits<int64_t>::min();
  const int64_t n = now().nanos(), dn = d.count_nanos();
  if (dn > 0 && n > kMax - dn) return kNever;
  if (dn < 0 && n < kMin - dn) return Timestamp::from_nanos(kMin);
  return Timestamp::from_nanos(n + dn);
}

bool Clock::sleep_until(Timestamp deadline, const std::stop_token& stop) const {
  if (now() >= deadline) return true;
  if (stop.stop_requested()) return false;
  // A private condition variable nobody notifies: only the deadline or `stop` end the wait.
  // Its mutex guards no data (a std::mutex: nothing for the thread-safety analysis to check).
  std::mutex mu;
  std::condition_variable_any cv;
  std::unique_lock lock(mu);
  auto never = [] { return false; };
  wait_impl(cv, lock, deadline, stop, Predicate(never));
  return now() >= deadline;
}

// ---------------------------------------------------------------------------------------------
// SteadyClock

Timestamp SteadyClock::now() const {
  return Timestamp::from_nanos(std::chrono::duration_cast<std::chrono::nanoseconds>(
                                   std::chrono::steady_clock::now().time_since_epoch())
                                   .count());
}

const SteadyClock& SteadyClock::instance() {
  static const SteadyClock clock;
  return clock;
}

bool SteadyClock::wait_impl(std::condition_variable_any& cv, std::unique_lock<std::mutex>& lock,
                            Timestamp deadline, const std::stop_token& stop,
                            const Predicate& pred) const {
  auto p = [&pred] { return pred(); };
  if (deadline == kNever) return cv.wait(lock, stop, p);
  // now() is steady_clock's time since its epoch, so a Timestamp is a steady_clock time point.
  const std::chrono::steady_clock::time_point at{std::chrono::nanoseconds(deadline.nanos())};
  return cv.wait_until(lock, stop, at, p);
}

// ---------------------------------------------------------------------------------------------
// FakeClock

FakeClock::FakeClock(Timestamp start) : now_(start.nanos()) {}

FakeClock::~FakeClock() {
  MutexLock g(mu_);
  assert(waiting_.empty() && "FakeClock destroyed while threads still wait through it");
}

bool FakeClock::wait_impl(std::condition_variable_any& cv, std::unique_lock<std::mutex>& lock,
                          Timestamp deadline, const std::stop_token& stop,
                          const Predicate& pred) const {
  // The wait ends on a stop request of `release`: made by advance()/set() at the deadline, or
  // forwarded from the caller's `stop`. condition_variable_any checks a stop token under its
  // internal mutex, and request_stop() notifies under it, so neither wake-up can be lost.
  std::stop_source release;
  Key key;
  {
    MutexLock g(mu_);
    if (now_.load(std::memory_order_relaxed) >= deadline.nanos()) return pred();
    key = Key{deadline.nanos(), next_id_++};
    waiting_.emplace(key, release);
  }
  registered_cv_.notify_all();
  {
    std::stop_callback forward(stop, [&release] { release.request_stop(); });
    cv.wait(lock, release.get_token(), [&pred] { return pred(); });
  }  // `forward` is gone (its callback finished) before `release` is destroyed
  {
    MutexLock g(mu_);
    waiting_.erase(key);  // no-op when advance()/set() released it
  }
  return pred();
}

std::vector<std::stop_source> FakeClock::move_to_locked(int64_t t) {
  now_.store(t, std::memory_order_release);
  // The waiters due at `t`, in key order: deadline, then registration.
  std::vector<std::stop_source> due;
  const auto end = waiting_.upper_bound(Key{t, std::numeric_limits<uint64_t>::max()});
  for (auto it = waiting_.begin(); it != end;) {
    due.push_back(std::move(it->second));
    it = waiting_.erase(it);
  }
  released_ += due.size();
  return due;
}

void FakeClock::release(std::vector<std::stop_source>& due) {
  for (auto& s : due) s.request_stop();  // wakes each waiter's condition variable
}

void FakeClock::advance(Duration d) {
  std::vector<std::stop_source> due;
  {
    MutexLock lock(mu_);
    due = move_to_locked(now_.load(std::memory_order_relaxed) + d.count_nanos());
  }
  release(due);
}

void FakeClock::set(Timestamp t) {
  std::vector<std::stop_source> due;
  {
    MutexLock lock(mu_);
    due = move_to_locked(t.nanos());
  }
  release(due);
}

bool FakeClock::advance_to_next_deadline() {
  std::vector<std::stop_source> due;
  {
    MutexLock lock(mu_);
    if (waiting_.empty() || waiting_.begin()->first.first == kNever.nanos()) return false;
    const int64_t t = std::max(now_.load(std::memory_order_relaxed), waiting_.begin()->first.first);
    due = move_to_locked(t);
  }
  release(due);
  return true;
}

size_t FakeClock::waiters() const {
  MutexLock g(mu_);
  return waiting_.size();
}

bool FakeClock::wait_for_waiters(size_t n, Duration limit) const {
  UniqueLock lock(mu_);
  return registered_cv_.wait_for(lock.native(), limit.to_chrono(), [&] {
    mu_.assert_held();
    return waiting_.size() >= n;
  });
}

std::optional<Timestamp> FakeClock::next_deadline() const {
  MutexLock g(mu_);
  if (waiting_.empty() || waiting_.begin()->first.first == kNever.nanos()) return std::nullopt;
  return Timestamp::from_nanos(waiting_.begin()->first.first);
}

uint64_t FakeClock::released() const {
  MutexLock g(mu_);
  return released_;
}

}  // namespace orion
