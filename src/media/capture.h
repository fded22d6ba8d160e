// Capture: ingests one stream (rtsp/rtsps, file, v4l2, test pattern) with GStreamer, keeps
// only the newest decoded frame, keeps it in the decoder's own layout (I420 or NV12; ADR 0080),
// stamps its identity and publishes it into the stream's FrameSupplier. The frame's memory is
// the decoder's buffer itself, held by reference, whenever holding it cannot starve the
// decoder (ADR 0089: one memory block, from no pool or a pool that grows on demand); otherwise
// the planes are copied once into a FramePool buffer. Frames are never converted here: consumers
// that need BGR (the workers) get it from the IpcBridge, converted once into their shared-memory
// slot.
//
//   source → [depay/parse] → decodebin (hardware decoder first when present, else libav;
//   audio is not decoded) → appsink (max-buffers=1, drop=true) → capture thread:
//   the decoder's buffer by reference (or its I420/NV12 planes copied into the pool buffer)
//   → identity → supplier.publish()
//
// Hop boundaries (per-frame latency): Capture::Impl::handle_sample takes capture_time when the
// sample leaves the appsink ("decoded") and records "published" just before publish().
//
// Identity: stream id; sequence strictly increasing from 1 and continuing across reconnects
// and loops; pts = the buffer's running time, rebased so it keeps growing across attempts;
// capture_time = SteadyClock (or the given clock) when the decoded frame left the appsink.
//
// Resilience: an attempt ends on a pipeline error, an end of stream from a live source, no
// first frame within `connect_timeout`, or no frame for `stall_timeout` while live. (A file
// without `loop` that reaches its end is not restarted: state kEnded.) The next attempt comes
// after an exponential backoff (core/backoff.h, policy {backoff_initial, backoff_max,
// backoff_factor}), reset once an attempt delivered a frame. RTSP
// attempts use TCP; an attempt that failed before any frame switches TCP ↔ UDP for the next.
// rtsps:// (RTSP over TLS) always uses TCP: the media stays inside the TLS connection. The
// camera's certificate is validated against the system's trusted authorities unless
// `tls_verify` is false; an untrusted certificate fails the attempt with "media.tls_untrusted"
// (message: the stream, why the certificate was not trusted, and how to accept it).
// status() is observable at any time; errors name the stream and the cause.
// Memory: after each attempt (its pipeline released) the capture thread calls malloc_trim(0)
// on glibc, so what the attempt freed does not stay resident (ADR 0087).
//
// Time: capture times, the connect and stall timeouts and the retry backoff are measured on
// `clock`, and the backoff wait waits through it, so with a FakeClock a test advances time
// instead of waiting: the capture thread is then a waiter of the clock while it backs off (or
// after a file ended). GStreamer itself runs in real time (rtspsrc's TCP timeout, the appsink
// polled every 50 ms), so a connect or stall timeout fires within one poll of the clock
// passing it.
//
// Lifecycle: create() (validates the url; no thread yet) → start() → stop() (idempotent;
// joins the thread; also run by the destructor). Not restartable after stop().
// Ownership: `pool`, `supplier` and `timeline` are borrowed and must outlive the Capture.
// Thread-safety: start/stop from one owner thread; status() from any thread. Locks: the status
// mutex (guards the StreamStatus) and the wait mutex (stop flag for the backoff wait) are
// leaves, never held together; an attempt's own mutex guards what GStreamer's streaming
// threads report (decoder name, pads linked).
#pragma once

#include <memory>
#include <string>

#include "core/clock.h"
#include "core/frame.h"
#include "core/frame_pool.h"
#include "core/frame_supplier.h"
#include "core/result.h"
#include "core/time.h"
#include "media/stream_status.h"

namespace orion::media {

class FrameTimeline;

struct CaptureOptions {
  bool loop = false;                                  // files: seek back to the start at the end
  Duration connect_timeout = Duration::seconds(10);   // attempt start → first frame
  Duration stall_timeout = Duration::seconds(5);      // live: no frame for this long → restart
  Duration backoff_initial = Duration::millis(500);
  Duration backoff_max = Duration::seconds(10);
  double backoff_factor = 2.0;
  Duration rtsp_latency = Duration::millis(100);      // rtspsrc jitterbuffer latency
  // rtsps: validate the camera's TLS certificate (trusted authority, host name, dates). false
  // accepts any certificate (self-signed cameras): still encrypted, identity not checked.
  bool tls_verify = true;
  // Publish the decoder's buffer by reference where it may be held (ADR 0089); false always
  // copies into the pool (tests compare the two).
  bool reference_decoded = true;
  // Decoded frames that may wait for the capture thread before the oldest is dropped (the
  // appsink's max-buffers, ADR 0090): 1 keeps only the newest.
  int decoded_queue = 3;
  const Clock* clock = nullptr;                       // nullptr: SteadyClock::instance()
};

class Capture {
 public:
  // Errors: "media.bad_url" (the url cannot be parsed; message names the stream). Attempt
  // errors (status().last_error): see "Resilience" above and docs/design/media.md.
  static Result<std::unique_ptr<Capture>> create(std::string stream_name, StreamId stream_id,
                                                 std::string url, CaptureOptions options,
                                                 FramePool& pool, FrameSupplier& supplier,
                                                 FrameTimeline* timeline = nullptr);
  ~Capture();
  Capture(const Capture&) = delete;
  Capture& operator=(const Capture&) = delete;

  void start();
  void stop();
  StreamStatus status() const;
  const std::string& name() const;

  struct Impl;

 private:
  explicit Capture(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// Initializes GStreamer once per process (thread-safe, idempotent) and raises the rank of
// hardware H.264/H.265 decoders that are present so decodebin prefers them.
void ensure_gstreamer();

}  // namespace orion::media
