// `orion bench supplier`: the FrameSupplier against three baselines, measured in one run.
//
// For each subscriber count it measures, per frame and per subscriber (exact, not averaged):
//   publish   - cost of the publish() call on the producer thread
//   written   - publish → every subscriber's mailbox holds the frame
//   wake      - publish → a blocked subscriber is running again holding the frame
// for Orion's FrameSupplier and for the baselines the seed rejected:
//   queue     - a bounded queue per subscriber, try-push-or-drop (Go's "select default")
//   thread    - a thread started per subscriber per frame (Go's "goroutine per worker")
//   copy      - a deep copy of the 1280×720 BGR frame into every subscriber's mailbox
// and prints p50/p99 with the ratio Orion/baseline (below 1 means Orion is faster).
#pragma once

#include <string>
#include <vector>

namespace orion::bench {

struct SupplierBenchOptions {
  int frames = 300;  // frames per measurement (fewer for the slow baselines at high counts)
  std::vector<int> subscriber_counts = {1, 8, 64, 256};
  int sequential_threshold = 8;
  int notifier_threads = 2;
  std::string json_path;
};

int run_supplier_bench(const SupplierBenchOptions& options);

}  // namespace orion::bench
