// BatchCollector: batches frames ACROSS STREAMS for one GPU inference worker, by the
// newest-frame rule (docs/adr/0072-batch-across-streams-newest-frame.md).
//
// Each of the worker's streams has one pending slot. submit() puts a stream's newest frame
// there, replacing (dropping) an older one the worker has not taken yet: a worker never runs a
// frame when a newer one of the same stream is waiting. collect() returns one batch: the
// pending frame of each stream that has one, taken at the moment collect() returns, so every
// frame in the batch is its stream's newest.
//
// Bounded wait: collect() waits for the first frame; then, while fewer than min(streams,
// max_batch) streams have a pending frame, it waits for more, but never longer than `max_wait`
// after the OLDEST pending frame arrived. A frame that arrived while the worker was busy has
// already waited, so it goes at once. A stream whose newer frame arrives during the wait is
// batched with that newer frame (the older one is dropped and counted), so waiting never
// breaks the newest-frame rule. With more pending streams than max_batch, the ones whose
// frames waited longest go first (no stream starves).
//
// Lifecycle: construct with the stream count; submit() from producers, collect() from one
// worker thread; stop() wakes collect(), which then returns an empty batch (also later).
// Thread-safety: submit() and stop() from any thread; collect() from one thread at a time.
// Locks: mu_ guards the slots; no other lock is taken under it. Frames are released (their
// memory handed back) outside mu_.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <vector>

#include "core/clock.h"
#include "core/frame.h"
#include "core/thread_annotations.h"
#include "core/time.h"

namespace orion::gpu {

struct BatchItem {
  int stream = 0;     // index of the stream in this collector (0 .. streams-1)
  FramePtr frame;     // its newest frame
  Timestamp arrived;  // when submit() put it in the slot (collector clock)
};

struct CollectorStats {
  uint64_t submitted = 0;  // frames given to submit()
  uint64_t dropped = 0;    // replaced by a newer frame of the same stream before being taken
  uint64_t taken = 0;      // frames returned by collect()
  uint64_t batches = 0;    // non-empty batches returned
};

class BatchCollector {
 public:
  // streams >= 1. The clock times the bounded wait (tests inject a FakeClock).
  explicit BatchCollector(int streams, const Clock& clock = SteadyClock::instance());
  BatchCollector(const BatchCollector&) = delete;
  BatchCollector& operator=(const BatchCollector&) = delete;

  int streams() const { return streams_; }

  // Puts `frame` into stream `stream`'s slot (0 <= stream < streams(); out of range is a broken
  // contract, asserted). Returns false (and drops nothing) after stop().
  bool submit(int stream, FramePtr frame);

  // One batch (see the header comment): 1..max_batch items sorted by stream index, or empty
  // once stop() was called. max_batch >= 1; max_wait >= 0 (0 = take what is there at once).
  std::vector<BatchItem> collect(int max_batch, Duration max_wait);

  void stop();
  CollectorStats stats() const;

 private:
  struct Slot {
    FramePtr frame;
    Timestamp arrived;
  };
  int pending_locked() const REQUIRES(mu_);
  Timestamp oldest_locked() const REQUIRES(mu_);

  const Clock& clock_;
  const int streams_;  // slots_.size(), fixed at construction
  mutable Mutex mu_;
  std::condition_variable_any cv_;
  std::vector<Slot> slots_ GUARDED_BY(mu_);
  bool stopped_ GUARDED_BY(mu_) = false;
  CollectorStats stats_ GUARDED_BY(mu_);
};

}  // namespace orion::gpu
