// wait_until: polls a condition until it holds or a time limit passes — for tests that watch
// state nothing notifies them of (real processes, pipelines and sockets, a component's
// statistics). Tests never sleep a fixed time "to let something happen": they wait for the
// condition that says it happened (this), for a FakeClock waiter (core/clock.h:
// FakeClock::wait_for_waiters) or for a notification. The limit only bounds a failure; a rate
// is measured over a number of events (from their timestamps), not over a slept interval.
#pragma once

#include <chrono>
#include <thread>

#include "core/time.h"

namespace orion::testing {

// Returns true as soon as `pred()` holds; false if it still does not after `limit`.
template <class Pred>
bool wait_until(Pred pred, Duration limit, Duration poll = Duration::millis(20)) {
  const auto end = std::chrono::steady_clock::now() + limit.to_chrono();
  while (std::chrono::steady_clock::now() < end) {
    if (pred()) return true;
    std::this_thread::sleep_for(poll.to_chrono());
  }
  return pred();
}

}  // namespace orion::testing
