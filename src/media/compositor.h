// Compositor: subscriber of one stream's FrameSupplier. For each new frame it copies the
// pixels into its own picture (the published frame stays immutable), draws the newest results
// of every pipeline for that stream from the ResultStore (boxes, class, score, pipeline name,
// how many frames old) plus stream name, capture time and measured fps, and hands the picture
// to the encoder: one output picture per camera frame, never the same frame twice.
//
// When no frame has come for `signal_lost_after` (the camera stalled or is reconnecting), it
// sends "signal lost" pictures at the stream's last frame rate, so the output says so instead
// of freezing silently. Before the first frame there is nothing to show and nothing is sent.
//
// Latency per frame, exact from identity: decoded (capture_time) → published (FrameTimeline)
// → taken → composited → handed to the encoder; kept for the last `latency_capacity` frames.
//
// Lifecycle: construct → start() → stop() (idempotent, joins; run by the destructor).
// A std::exception while compositing one picture (OpenCV, the encoder) costs that picture and
// counts as an error; any other exception ends the thread without ending the process, and
// stats().failure says why (the output then freezes until the engine restarts the stream).
// Ownership: supplier, store, output and timeline are borrowed and must outlive the
// Compositor. Thread-safety: start/stop from the owner; stats()/latencies() from any thread.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "core/clock.h"
#include "core/frame_supplier.h"
#include "core/result_store.h"
#include "media/encoder_input.h"

namespace orion::media {

class FrameTimeline;

struct CompositorOptions {
  std::string stream_name;
  StreamId stream_id = 0;
  Duration signal_lost_after = Duration::seconds(1);
  bool stamp_sequence = false;   // draw the sequence stamp (see overlay.h) for clients to read
  bool draw = true;              // draw the overlay (off: pass pictures through, for baselines)
  size_t latency_capacity = 0;   // per-frame latency records kept (0: none)
  std::function<std::string()> status_text;  // cause shown on signal-lost pictures
  // Time of the compositor: when a frame was taken, signal lost, signal-lost pacing and pts.
  // It waits for frames with the supplier's next_frame(timeout), measured on the supplier's
  // clock: give both the same clock (with a FakeClock, advancing it releases that wait).
  const Clock* clock = nullptr;  // nullptr: SteadyClock::instance()
};

struct FrameLatency {
  uint64_t sequence = 0;
  Timestamp decoded;     // identity().capture_time
  Timestamp published;   // unset when the timeline no longer knew the frame
  Timestamp taken;       // next_frame() returned it
  Timestamp composited;  // overlay drawn
  Timestamp handed;      // the encoder accepted it
};

struct CompositorStats {
  uint64_t frames = 0;              // camera frames sent to the encoder
  uint64_t signal_lost_frames = 0;  // synthetic pictures sent while the signal was lost
  uint64_t errors = 0;              // pictures the encoder refused
  uint64_t repeated = 0;            // frames seen twice (must stay 0: the supplier forbids it)
  uint64_t last_sequence = 0;
  double fps = 0;                   // measured over the last ~2 s of capture times
  bool signal_lost = false;
  std::string failure;  // why the compositor thread died ("" while it runs)
};

class Compositor {
 public:
  Compositor(FrameSupplier& supplier, ResultStore& store, EncoderInput& output, FrameTimeline* timeline,
             CompositorOptions options);
  ~Compositor();
  Compositor(const Compositor&) = delete;
  Compositor& operator=(const Compositor&) = delete;

  void start();
  void stop();
  CompositorStats stats() const;
  std::vector<FrameLatency> latencies() const;

  struct Impl;

 private:
  std::unique_ptr<Impl> impl_;
};

}  // namespace orion::media
