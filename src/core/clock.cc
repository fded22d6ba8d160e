#include "core/clock.h"

#include <chrono>

namespace orion {

Timestamp SteadyClock::now() const {
  return Timestamp::from_nanos(
      std::chrono::duration_cast<std::chrono::nanoseconds>(
          std::chrono::steady_clock::now().time_since_epoch())
          .count());
}

const SteadyClock& SteadyClock::instance() {
  static const SteadyClock clock;
  return clock;
}

}  // namespace orion
