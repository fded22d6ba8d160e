// Engine: runs every stream of a Config in one process:
//
//   per stream:  Capture → HeapFramePool + FrameSupplier → Compositor (+ ResultStore) →
//                StreamOutput (H.264) → RtspServer mount rtsp://HOST:PORT/<name>
//
// A stream whose url is invalid is kept in state "failed" with its error; every other stream
// and the output run on. Streams that fail at run time are retried by their Capture.
// Pipelines (issue 6): a stream with pipelines captures into a shared-memory ShmFramePool
// instead of the heap; an IpcBridge offers its frames to one `orion worker` process per
// pipeline, run by the Supervisor, whose results go into results() for the compositor.
//
// Lifecycle: create() (validates, builds nothing that runs) → start() (binds the RTSP port,
// starts every stream) → stop() (idempotent; also the destructor): compositors, captures,
// suppliers, then the server.
// Thread-safety: start/stop from one owner thread; the accessors from any thread after start.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "core/frame_supplier.h"
#include "core/result.h"
#include "core/result_store.h"
#include "engine/config.h"
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
};

struct StreamReport {
  media::StreamStatus capture;
  media::CompositorStats compositor;
  media::OutputStats output;
  std::string output_url;
};

class Engine {
 public:
  // Errors: "engine.no_streams" (nothing enabled to run), "engine.bad_pipeline" (a model kind
  // that is not registered, a missing model path, or a pipeline `worker` that is not an
  // executable; a pipeline with its own `worker` skips the model checks, its worker makes
  // them), "ipc.shm_create".
  static Result<std::unique_ptr<Engine>> create(Config config, EngineOptions options);
  ~Engine();
  Engine(const Engine&) = delete;
  Engine& operator=(const Engine&) = delete;

  // Errors: "rtsp.bind".
  Status start();
  void stop();

  std::vector<StreamReport> report() const;
  std::optional<StreamReport> report(const std::string& stream) const;
  std::vector<media::FrameLatency> latencies(const std::string& stream) const;
  FrameSupplier* supplier(const std::string& stream);
  ResultStore& results();
  // Per pipeline: worker state, restarts and reasons, offered/taken/dropped, result age, and the
  // motion gate's frames/passed/skipped (pipeline key `motion_gate`).
  std::vector<PipelineStats> pipelines() const;
  int rtsp_port() const;

  struct Impl;

 private:
  explicit Engine(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace orion::engine
