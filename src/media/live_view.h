// The live view's media side (docs/design/live_view.md): one viewer's bounded queue of the
// encoder's access units (LiveViewer, fed by a tap on StreamOutput — no encode of its own),
// and the per-viewer fMP4 muxing and frame messages (LiveMuxer). The WebSocket that carries
// them is the engine's (engine/media_endpoint.*).
//
// Drop policy: a viewer's queue holds at most `queue_frames` access units. When a frame comes
// and the queue is full, the queue is emptied and the viewer waits for the next keyframe;
// every frame not queued because of that counts in dropped(). The encoder's thread only ever
// takes the viewer's lock for a push: a slow viewer never slows the encoder or other viewers.
//
// Lifecycle: LiveViewer taps its output on construction and lets go in its destructor (after
// which its sink is never called). Thread-safety: LiveViewer::next() from one consumer
// thread; dropped()/close() from any. LiveMuxer is single-threaded (the viewer's thread).
#pragma once

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "core/thread_annotations.h"
#include "media/fmp4.h"
#include "media/rtsp_server.h"

namespace orion::media {

class LiveViewer {
 public:
  // Errors: none; `queue_frames` below 2 is taken as 2.
  LiveViewer(std::shared_ptr<StreamOutput> output, size_t queue_frames = 50);
  ~LiveViewer();
  LiveViewer(const LiveViewer&) = delete;
  LiveViewer& operator=(const LiveViewer&) = delete;

  // The next access unit (the first is a keyframe), waiting up to `timeout`; nullopt on
  // timeout or after close().
  std::optional<EncodedFrame> next(Duration timeout);
  void close();
  uint64_t dropped() const;   // frames not delivered to this viewer (queue full)
  uint64_t received() const;  // frames queued

 private:
  void push(const EncodedFrame& f);
  std::shared_ptr<StreamOutput> output_;
  uint64_t sink_id_ = 0;
  const size_t capacity_;
  mutable Mutex mu_;
  std::condition_variable cv_;
  std::deque<EncodedFrame> queue_ GUARDED_BY(mu_);
  bool need_keyframe_ GUARDED_BY(mu_) = true;
  bool closed_ GUARDED_BY(mu_) = false;
  uint64_t dropped_ GUARDED_BY(mu_) = 0;
  uint64_t received_ GUARDED_BY(mu_) = 0;
};

// Unix time in microseconds of a SteadyClock timestamp (the capture times' clock), through
// the offset between the two clocks now.
int64_t steady_to_unix_us(Timestamp steady);

struct LiveMessage {
  bool binary = false;
  std::string data;
};

// Turns one viewer's access units into the protocol's messages:
//   {"type":"init","stream","codec","width","height","fps"} + init segment (binary), first and
//   again whenever SPS/PPS or the size change (at a keyframe);
//   {"type":"frame","seq","pts_us","capture_unix_us","media_time"} + one moof+mdat per frame.
// The viewer's timeline starts at 0 with its first frame: media_time = (pts - first pts) in
// 1/90000 s, as a number of seconds. A synthetic picture (signal lost) has seq 0, pts_us 0 and
// capture_unix_us 0.
class LiveMuxer {
 public:
  explicit LiveMuxer(std::string stream) : stream_(std::move(stream)) {}
  // Errors: "fmp4.*" (a keyframe without SPS/PPS before any init, an empty access unit).
  Result<std::vector<LiveMessage>> add(const EncodedFrame& frame);
  uint64_t frames() const { return fragments_; }

 private:
  std::string stream_;
  std::optional<Fmp4Track> track_;
  bool have_origin_ = false;
  Duration origin_;
  uint64_t last_decode_time_ = 0;
  uint32_t fragments_ = 0;
};

}  // namespace orion::media
