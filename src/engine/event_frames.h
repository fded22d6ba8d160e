// EventFrames: per stream, the JPEGs of the last frames that produced detections, so that the
// dashboard can crop an event's box out of the very frame it was found on
// (GET /media/streams/{name}/frames/{seq}.jpg; docs/design/live_view.md "Event frames").
//
// The engine offers the compositor's picture of a frame when a result with detections for it
// is accepted (Compositor::recent_picture: the annotated output picture of that camera frame,
// while it is among the last few shown). Encoding runs on this class's own thread
// ("orion-evframes"), never on the result intake's: offer() only queues (at most
// `queue` pictures; more are dropped and counted). Each stream keeps its newest `per_stream`
// JPEGs; a frame offered twice (two pipelines) is encoded once.
//
// Lifecycle: construct → start() → stop() (idempotent, also the destructor; joins).
// Thread-safety: every method from any thread. Locks: mu_ is a leaf.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <thread>

#include "core/thread_annotations.h"
#include "media/compositor.h"

namespace orion::engine {

struct EventFramesOptions {
  size_t per_stream = 64;  // JPEGs kept per stream
  size_t queue = 16;       // pictures waiting for the encoder
  int jpeg_quality = 85;
};

struct EventFramesStats {
  uint64_t encoded = 0;  // JPEGs made
  uint64_t dropped = 0;  // offers refused: the queue was full
  uint64_t missed = 0;   // results whose frame picture was no longer held (counted by the engine)
};

class EventFrames {
 public:
  explicit EventFrames(EventFramesOptions options = {});
  ~EventFrames();
  EventFrames(const EventFrames&) = delete;
  EventFrames& operator=(const EventFrames&) = delete;

  void start();
  void stop();
  // Queues `picture` (of camera frame picture.identity().sequence) for `stream`.
  void offer(const std::string& stream, media::SnapshotPicture picture);
  void count_missed();
  // True when frame `sequence` of `stream` is held or queued (no need to offer it again).
  bool has(const std::string& stream, uint64_t sequence) const;
  std::optional<std::string> get(const std::string& stream, uint64_t sequence) const;
  void forget(const std::string& stream);  // the stream was removed
  // Blocks until nothing is queued or being encoded (tests).
  void drain() const;
  EventFramesStats stats() const;

 private:
  void run();
  const EventFramesOptions options_;
  mutable Mutex mu_;
  mutable std::condition_variable cv_;
  struct Job {
    std::string stream;
    media::SnapshotPicture picture;
  };
  std::deque<Job> jobs_ GUARDED_BY(mu_);
  bool busy_ GUARDED_BY(mu_) = false;
  bool stopping_ GUARDED_BY(mu_) = false;
  // stream → sequence → JPEG (newest per_stream kept: the highest sequences)
  std::map<std::string, std::map<uint64_t, std::shared_ptr<const std::string>>> frames_
      GUARDED_BY(mu_);
  EventFramesStats stats_ GUARDED_BY(mu_);
  std::thread thread_;
};

}  // namespace orion::engine
