// Engine: runs streams and their pipelines in one process, and changes them while it runs:
//
//   per stream:  Capture → ShmFramePool + FrameSupplier → Compositor (+ ResultStore) →
//                StreamOutput (H.264) → RtspServer mount rtsp://HOST:PORT/<name>
//                                     → IpcBridge → one worker process per pipeline (Supervisor)
//
// Desired state comes as a Config, at create() and at every apply(). apply() makes the running
// set equal to it, touching only what changed (docs/design/reconciler.md):
//   - a stream that is new is started; one no longer wanted (deleted or disabled) is stopped
//     after its pipelines, and its RTSP mount removed (its viewers are disconnected);
//   - a stream whose url, loop or tls_verify changed gets a new Capture into the same pool,
//     supplier, compositor and output: its viewers stay connected and see "signal lost" until
//     the new source delivers; its workers stay too;
//   - a pipeline that is new is started; one whose spec changed (model, min_score, classes,
//     motion gate, ...) gets a fresh worker (the old one is stopped); one no longer wanted is
//     stopped;
//   - everything else — other streams' captures, outputs, workers — is not touched.
// Every stream captures into a shared-memory pool with room for max_pipelines_per_stream
// workers, so a pipeline added at run time needs no new pool (slot memory is committed only
// when used). A stream whose url is refused is kept in state "failed" with its error; a
// pipeline that cannot run (unknown model kind, missing model, its stream not running, no room
// in the pool) is reported kFailed with the reason; the rest runs on.
//
// Lifecycle: create() → start() (binds the RTSP port, starts the supervisor, applies the
// Config given to create()) → apply() any number of times → stop() (idempotent; also the
// destructor): workers, captures, compositors, suppliers, then the server.
// Thread-safety: start/apply/stop from one owner thread (the reconciler); every accessor from
// any thread at any time. Locks: apply_mu_ serialises apply/stop; Impl::mu guards the maps of
// streams and pipelines and is held only to read or swap them (never across a join, a process
// start or a GStreamer state change); each stream's capture_mu guards its Capture pointer
// (taken inside Impl::mu, and by the compositor's status text alone). Across modules: engine →
// supervisor → pool → result store (docs/design/threads.md).
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "core/frame_supplier.h"
#include "core/result.h"
#include "core/result_store.h"
#include "engine/config.h"
#include "engine/event_frames.h"
#include "engine/latency_book.h"
#include "engine/supervisor.h"
#include "media/capture.h"
#include "media/compositor.h"
#include "media/rtsp_server.h"
#include "media/stream_status.h"

namespace orion::engine {

struct EngineOptions {
  int rtsp_port = 8554;               // 0: any free port
  std::string rtsp_address = "0.0.0.0";
  std::string public_host = "127.0.0.1";  // host written into the printed output URLs
  int http_port = 8080;               // accepted now; the HTTP server comes with the API issue
  media::CaptureOptions capture;      // per-stream `loop` and `tls_verify` come from the config
  media::OutputOptions output;
  Duration signal_lost_after = Duration::seconds(1);
  bool stamp_sequence = false;        // draw the sequence stamp into the output (tests, bench)
  bool draw_overlay = true;
  size_t latency_capacity = 0;        // per-frame latency records kept per stream
  // Workers: the `orion` binary to run as `orion worker` ("" = this executable), the largest
  // frame a stream with pipelines may carry (its shared-memory slots are this big; memory is
  // only committed for slots in use), and the supervisor's timings.
  std::string worker_executable;
  size_t max_frame_bytes = size_t{3840} * 2160 * 3;
  SupervisorOptions supervisor;
  // Pipelines one stream may have at once (its pool has 8 + 2 × this many slots).
  uint32_t max_pipelines_per_stream = 8;
  // Event frames (GET .../frames/{seq}.jpg): each stream's compositor keeps its last
  // `recent_pictures` pictures (width × height × 3 bytes each) so that the picture of a frame
  // with detections can still be had when its result comes; JPEGs of the last
  // `event_frames_per_stream` such frames are kept. recent_pictures = 0: no event frames.
  size_t recent_pictures = 8;
  size_t event_frames_per_stream = 64;
};

// What one apply() changed, and what it could not do (each error names the stream or pipeline;
// the rest was applied).
struct ApplyReport {
  int streams_added = 0, streams_changed = 0, streams_removed = 0;
  int pipelines_added = 0, pipelines_changed = 0, pipelines_removed = 0;
  std::vector<std::string> errors;
  bool changed() const {
    return streams_added + streams_changed + streams_removed + pipelines_added + pipelines_changed +
               pipelines_removed >
           0;
  }
};

struct StreamReport {
  media::StreamStatus capture;
  media::CompositorStats compositor;
  media::OutputStats output;
  std::string output_url;
};

class Engine {
 public:
  // A fixed configuration (`orion up --config` before the database, tests): checked strictly.
  // Errors: "engine.no_streams" (nothing enabled to run), "engine.bad_pipeline" (a model kind
  // that is not registered, a missing model path, or a pipeline `worker` that is not an
  // executable; a pipeline with its own `worker` skips the model checks, its worker makes
  // them).
  static Result<std::unique_ptr<Engine>> create(Config config, EngineOptions options);
  // An engine that starts with nothing and is given its streams by apply() (the reconciler).
  static std::unique_ptr<Engine> create_empty(EngineOptions options);
  ~Engine();
  Engine(const Engine&) = delete;
  Engine& operator=(const Engine&) = delete;

  // Errors: "rtsp.bind".
  Status start();
  // Makes the running streams and pipelines equal to `desired` (see the top of this file).
  // Before start() or after stop(): an error in the report and nothing done.
  ApplyReport apply(const Config& desired);
  void stop();

  std::vector<std::string> stream_names() const;  // running (or refused) streams, by name

  std::vector<StreamReport> report() const;
  std::optional<StreamReport> report(const std::string& stream) const;
  std::vector<media::FrameLatency> latencies(const std::string& stream) const;
  // Per-frame latency histograms per stream and per pipeline (engine/latency_book.h): every
  // frame handed to an encoder, every result accepted from a worker.
  const LatencyBook& latency() const;
  // The newest annotated picture of the stream's output (media::Compositor::last_picture);
  // nullopt for a stream not running here or with no picture yet.
  std::optional<media::SnapshotPicture> snapshot(const std::string& stream) const;
  // The stream's encoded output, for the live view's tap (media/live_view.h); nullptr for a
  // stream not running here.
  std::shared_ptr<media::StreamOutput> live_output(const std::string& stream) const;
  // The JPEG of frame `sequence` of `stream` if it produced detections and is among the last
  // event_frames_per_stream such frames (engine/event_frames.h); nullopt otherwise.
  std::optional<std::string> event_frame(const std::string& stream, uint64_t sequence) const;
  EventFramesStats event_frame_stats() const;
  // The stream's supplier; valid until apply() removes the stream or stop().
  FrameSupplier* supplier(const std::string& stream);
  ResultStore& results();
  // Per pipeline: worker state, restarts and reasons, offered/taken/dropped, result age, and the
  // motion gate's frames/passed/skipped (pipeline key `motion_gate`).
  std::vector<PipelineStats> pipelines() const;
  int rtsp_port() const;
  std::string output_url(const std::string& stream) const;  // "" before start

  struct Impl;

 private:
  explicit Engine(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace orion::engine
