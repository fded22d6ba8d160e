// ResultStore: the newest DetectionResult of every pipeline, per stream. Workers (or in-process
// detectors) put results in; the compositor reads the newest ones for the stream it draws.
// Older results than the one held (by frame sequence) are ignored, so a late result never
// replaces a newer one.
//
// Thread-safety: thread-safe (one mutex, held only to copy small records).
// Locks: mu_ is a leaf: nothing is called or locked while it is held. In the cross-module
// order (docs/design/threads.md) it comes last: supervisor → pool → result store.
#pragma once

#include <cstdint>
#include <map>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

#include "core/detection.h"
#include "core/thread_annotations.h"

namespace orion {

class ResultStore {
 public:
  // Returns false when a newer result of the same pipeline and stream is already held.
  bool put(DetectionResult result);
  // Newest result of every pipeline of `stream`, ordered by pipeline name.
  std::vector<DetectionResult> latest(StreamId stream) const;
  // Forgets every result of a pipeline (it was removed or failed).
  void clear_pipeline(const std::string& pipeline);
  uint64_t puts() const;

 private:
  mutable Mutex mu_;
  std::map<std::pair<StreamId, std::string>, DetectionResult> newest_ GUARDED_BY(mu_);
  uint64_t puts_ GUARDED_BY(mu_) = 0;
};

}  // namespace orion
