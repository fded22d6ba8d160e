// Compositor: subscriber of one stream's FrameSupplier. For each new frame it copies the
// pixels into its own picture, in the frame's own layout (the decoder's I420/NV12 in the
// engine: no colour conversion on the video path, ADR 0080; the published frame stays
// immutable), draws the newest results
// of every pipeline for that stream from the ResultStore (boxes, class, score, pipeline name,
// how many frames old) plus stream name, capture time and measured fps, and hands the picture
// to the encoder: one output picture per camera frame, never the same frame twice. Frames wait
// for it in a queue of `queue_frames` (ADR 0090), so a compositor late by a frame or two
// (a loaded machine) shows them late instead of dropping them.
//
// When no frame has come for `signal_lost_after` (the camera stalled or is reconnecting), it
// sends "signal lost" pictures at the stream's last frame rate, so the output says so instead
// of freezing silently. Before the first frame there is nothing to show and nothing is sent.
//
// Latency per frame, exact from identity: decoded (capture_time) → published (FrameTimeline)
// → taken → composited → handed to the encoder; kept for the last `latency_capacity` frames.
// Hop boundaries in the code: Capture::Impl::handle_sample (decoded, published), Impl::run
// (taken: next_frame() returned), Impl::compose (composited: after the overlay; handed: the
// time EncoderInput::submit returns).
//
// Snapshots: last_picture() is the newest annotated picture the encoder accepted, with the
// identity of the camera frame it was drawn on (GET .../snapshot.jpg). Cost on the video path:
// no pixel copy and, in steady state, no pixel allocation. Each picture is composed into a
// buffer of the compositor's own HeapFramePool (the copy out of the camera frame that was
// always made, now into a pool buffer instead of a std::vector), frozen once the encoder took
// it, and kept as the newest picture by a shared_ptr swapped under the stats lock; the one it
// replaces goes back to the pool. Two buffers take turns (stats().picture_buffers == 2); each
// frame adds three pool-mutex round trips (acquire, release, the buffer count) and three small
// heap allocations (Frame, its release function, the shared_ptr's control block). A reader
// holding a picture keeps its buffer out of the pool, and the compositor allocates another:
// the pool is unbounded, so a slow reader never stalls the video, and readers hold a picture
// only while they use it (one per snapshot request in flight). Signal-lost cards are not
// snapshots: while the signal is lost, last_picture() stays the last camera picture (its
// sequence says so).
//
// Lifecycle: construct → start() → stop() (idempotent, joins; run by the destructor).
// A std::exception while compositing one picture (OpenCV, the encoder) costs that picture and
// counts as an error; any other exception ends the thread without ending the process, and
// stats().failure says why (the output then freezes until the engine restarts the stream).
// Ownership: supplier, store, output and timeline are borrowed and must outlive the
// Compositor; a SnapshotPicture may outlive it (its pool's memory lives while any picture does).
// Thread-safety: start/stop from the owner; stats()/latencies()/last_picture() from any thread.
#pragma once

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "core/clock.h"
#include "core/frame_supplier.h"
#include "core/result_store.h"
#include "media/encoder_input.h"

namespace orion::media {

class FrameTimeline;

struct FrameLatency {
  uint64_t sequence = 0;
  Timestamp decoded;     // identity().capture_time
  Timestamp published;   // unset when the timeline no longer knew the frame
  Timestamp taken;       // next_frame() returned it
  Timestamp composited;  // overlay drawn
  Timestamp handed;      // the encoder accepted it
};

struct CompositorOptions {
  std::string stream_name;
  StreamId stream_id = 0;
  Duration signal_lost_after = Duration::seconds(1);
  bool stamp_sequence = false;   // draw the sequence stamp (see overlay.h) for clients to read
  bool draw = true;              // draw the overlay (off: pass pictures through, for baselines)
  size_t latency_capacity = 0;   // per-frame latency records kept (0: none)
  // Camera frames that may wait for the compositor (its subscription's depth, ADR 0090): one
  // that falls behind by fewer frames than this loses none; 1 makes it a mailbox (newest only).
  size_t queue_frames = 3;
  // Pictures of the last `recent_pictures` camera frames kept for recent_picture() (the
  // engine's event frames: the picture a detection was made on, a few frames back). Each one
  // kept holds a picture buffer out of the pool (width × height × 3 bytes).
  size_t recent_pictures = 0;
  std::function<std::string()> status_text;  // cause shown on signal-lost pictures
  // The camera's nominal frame rate (its caps; 0 when unknown), read until two frames give a
  // measured interval: the encoder is built on the first frame, at this rate (10 fps when 0).
  std::function<double()> nominal_fps;
  // Every camera frame the encoder accepted: its hop times and the results drawn on it (the
  // engine's latency histograms, engine/latency_book.h). Called on the compositor thread
  // without its lock; must not block.
  std::function<void(const FrameLatency&, const std::vector<DetectionResult>& drawn)> on_frame;
  // Time of the compositor: when a frame was taken, signal lost, signal-lost pacing and pts.
  // It waits for frames with the supplier's next_frame(timeout), measured on the supplier's
  // clock: give both the same clock (with a FakeClock, advancing it releases that wait).
  const Clock* clock = nullptr;  // nullptr: SteadyClock::instance()
};

struct CompositorStats {
  uint64_t frames = 0;              // camera frames sent to the encoder
  uint64_t signal_lost_frames = 0;  // synthetic pictures sent while the signal was lost
  uint64_t errors = 0;              // pictures the encoder refused (other than full)
  uint64_t output_full = 0;         // pictures refused because the encoder's queue was full
  uint64_t repeated = 0;            // frames seen twice (must stay 0: the supplier forbids it)
  uint64_t last_sequence = 0;
  double fps = 0;                   // measured over the last ~2 s of capture times
  bool signal_lost = false;
  size_t picture_buffers = 0;  // picture buffers allocated (2 in steady state, see above)
  std::string failure;  // why the compositor thread died ("" while it runs)
};

// The newest picture the compositor sent to the output, shared and immutable.
struct SnapshotPicture {
  // The camera frame's layout (I420 or NV12 from the engine's capture, BGR24 when BGR frames
  // were published), packed rows, overlay drawn. identity() is the camera frame's: stream id,
  // sequence, pts, capture time. A JPEG is made from view() (encode_jpeg converts to BGR).
  FramePtr picture;
  Timestamp composited;  // when the overlay was drawn (the compositor's clock)

  Picture view() const { return colour::view_of(*picture); }
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
  // The newest picture the encoder accepted; nullopt before the first. O(1): a shared_ptr
  // copy under the stats lock, never a pixel copy.
  std::optional<SnapshotPicture> last_picture() const;
  // The picture of camera frame `sequence` if it is one of the last `recent_pictures` shown;
  // nullopt otherwise. O(recent_pictures) under the stats lock, no pixel copy.
  std::optional<SnapshotPicture> recent_picture(uint64_t sequence) const;

  struct Impl;

 private:
  std::unique_ptr<Impl> impl_;
};

}  // namespace orion::media
