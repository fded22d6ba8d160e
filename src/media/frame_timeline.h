// FrameTimeline: when each recent frame of one stream was published, so that a downstream
// stage (the compositor) can report exact per-frame latency decoded → published → composited
// → handed to the encoder from the frame's identity alone.
//
// A fixed ring of 1024 frames (40 s at 25 fps) indexed by sequence; an entry is valid only if its
// stored sequence matches (older frames are forgotten, never confused with newer ones).
// Thread-safety: thread-safe (one mutex, held for a few stores). mu_ is a leaf (the compositor
// calls published() holding its own stats lock).
#pragma once

#include <array>
#include <cstdint>
#include <optional>

#include "core/thread_annotations.h"
#include "core/time.h"

namespace orion::media {

class FrameTimeline {
 public:
  // `decoded`: the frame's capture_time (the engine's own, so a worker's claim about it can be
  // checked later; unset when not given).
  void record_published(uint64_t sequence, Timestamp published, Timestamp decoded = Timestamp{}) {
    MutexLock lock(mu_);
    auto& e = ring_[sequence % ring_.size()];
    e.sequence = sequence;
    e.published = published;
    e.decoded = decoded;
  }
  // The decoded time recorded with the frame; nullopt when forgotten or never given.
  std::optional<Timestamp> decoded(uint64_t sequence) const {
    MutexLock lock(mu_);
    const auto& e = ring_[sequence % ring_.size()];
    if (e.sequence != sequence || !e.decoded.is_set()) return std::nullopt;
    return e.decoded;
  }
  std::optional<Timestamp> published(uint64_t sequence) const {
    MutexLock lock(mu_);
    const auto& e = ring_[sequence % ring_.size()];
    if (e.sequence != sequence) return std::nullopt;
    return e.published;
  }

 private:
  struct Entry {
    uint64_t sequence = 0;
    Timestamp published;
    Timestamp decoded;
  };
  mutable Mutex mu_;
  std::array<Entry, 1024> ring_ GUARDED_BY(mu_){};
};

}  // namespace orion::media
