// Nearest-rank percentiles of per-event samples (nanoseconds in, microseconds out), shared by
// the benchmarks that report p50/p99/max from exact per-frame measurements.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <vector>

namespace orion::bench {

struct Summary {
  double p50 = 0, p99 = 0, max = 0;  // microseconds
  size_t n = 0;                      // samples
};

inline Summary summarize(std::vector<int64_t> ns) {
  Summary s;
  if (ns.empty()) return s;
  std::sort(ns.begin(), ns.end());
  auto at = [&](double q) {
    const size_t i = static_cast<size_t>(q * static_cast<double>(ns.size()));
    return static_cast<double>(ns[std::min(i, ns.size() - 1)]) / 1e3;
  };
  s.p50 = at(0.50);
  s.p99 = at(0.99);
  s.max = static_cast<double>(ns.back()) / 1e3;
  s.n = ns.size();
  return s;
}

}  // namespace orion::bench
