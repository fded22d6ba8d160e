// wait_until: polls a condition until it holds or a time limit passes — for integration tests
// that watch real processes, pipelines and sockets, where no event can be waited on directly.
// Unit tests should wait on a condition or a fake clock instead.
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
