// Backoff: the delay before the next attempt of something that keeps failing — a camera that
// does not answer (media::Capture), a worker that keeps dying (engine::Supervisor). One policy
// for both, so that "retrying in N s" means the same thing everywhere.
//
//   delay(k) = min(initial * factor^k, max)  for the k-th consecutive failure (k from 0)
//
// next() is called after a failure and returns how long to wait; reset() is called after a
// success (a camera that delivered a frame, a worker that produced a result), so the next
// failure waits `initial` again. Saturating: the delay never overflows, however many failures.
//
// Thread-safety: thread-compatible (a value owned by one loop).
#pragma once

#include "core/time.h"

namespace orion {

struct BackoffPolicy {
  Duration initial = Duration::millis(100);
  Duration max = Duration::seconds(10);
  double factor = 2.0;  // >= 1
};

class Backoff {
 public:
  Backoff() = default;
  explicit Backoff(BackoffPolicy policy);

  // Counts a failure and returns the delay before the next attempt.
  Duration next();
  // The delay next() would return, without counting a failure.
  Duration peek() const;
  // A success: the next failure waits `initial` again.
  void reset() { failures_ = 0; }
  int failures() const { return failures_; }
  const BackoffPolicy& policy() const { return policy_; }

 private:
  BackoffPolicy policy_;
  int failures_ = 0;
};

}  // namespace orion
