#include "core/backoff.h"

#include <algorithm>

namespace orion {

Backoff::Backoff(BackoffPolicy policy) : policy_(policy) {
  if (policy_.initial < Duration::zero()) policy_.initial = Duration::zero();
  if (policy_.max < policy_.initial) policy_.max = policy_.initial;
  if (!(policy_.factor >= 1.0)) policy_.factor = 1.0;
}

Duration Backoff::peek() const {
  // Multiply in double and stop at max: no int64 overflow for any number of failures.
  double ns = static_cast<double>(policy_.initial.count_nanos());
  const double cap = static_cast<double>(policy_.max.count_nanos());
  for (int k = 0; k < failures_ && ns < cap; ++k) ns *= policy_.factor;
  return Duration::nanos(static_cast<int64_t>(std::min(ns, cap)));
}

Duration Backoff::next() {
  const Duration d = peek();
  if (d < policy_.max)
    ++failures_;  // beyond the cap the count stops mattering; never overflows
  else
    failures_ = std::max(failures_, 1);
  return d;
}

}  // namespace orion
