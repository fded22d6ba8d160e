// EngineNode: one engine process as the control plane sees it — the Engine, fed by a Reconciler
// from the database, reporting through a StatusReporter, with its own Store connections
// (reconciler, status, events; each thread its own so none waits on another's query). Every
// result a worker delivers is offered to the EventWriter on the supervisor's thread (a queue
// push); the reconciler hands it the pipelines' event policies after each apply. `orion engine`
// is an EngineNode; `orion up` is an EngineNode plus the API in the same process, and the two
// still meet only in the database.
//
// Identity: EngineNodeOptions::engine_id, else "<host>:<pid>:<start unix ms>" (unique per process
// run), written with every heartbeat together with the base of its RTSP outputs and its media
// endpoint's URL. A stable id lets an engine started again take its own leases back at once.
//
// Leases (control/lease_keeper.h): the reconciler applies only the streams this engine holds;
// status rows and events carry each stream's lease epoch; stop() stops the streams first and
// then releases their leases, so other engines take them at once.
//
// Lifecycle: start() (opens the stores, starts the engine and its media endpoint, applies the
// desired state once and writes a first status round before it returns, so a caller can print what
// runs) → stop() (idempotent; also the destructor): reconciler, status, engine. Thread-safety:
// start/stop from one thread; engine(), id() and the accessors from any thread after start().
#pragma once

#include <memory>
#include <string>

#include "control/reconciler.h"
#include "control/status_reporter.h"
#include "core/result.h"
#include "engine/engine.h"
#include "engine/media_endpoint.h"
#include "events/event_writer.h"
#include "store/store.h"

namespace orion::control {

struct EngineNodeOptions {
  std::string db = "sqlite://orion.db";
  engine::EngineOptions engine;
  // The media endpoint (engine/media_endpoint.h): snapshots and /metrics of this engine, at
  // http://<engine.public_host>:<port>, registered in the engines table. Its port is
  // engine.http_port (0: any free one); the token is ORION_API_TOKEN's, so the API's relay
  // presents the same one.
  std::string http_address = "127.0.0.1";
  std::string token;
  bool allow_insecure_no_token = false;
  // Live and MJPEG viewers of the media endpoint (MediaEndpointOptions of the same names).
  int max_viewers = 64;
  int viewer_send_buffer = 256 * 1024;
  Duration status_interval = Duration::seconds(1);
  Duration first_apply_limit =
      Duration::seconds(30);  // start() waits this long for the first apply
  // Detections → events (events/event_writer.h): each pipeline's `events` policy from the
  // database, batches written on a Store connection of their own, retention by age and count.
  events::EventWriterOptions events;
  // Scale-out (docs/design/scale_out.md): this engine runs only the streams it holds a lease
  // for; several engines share one database's streams.
  std::string engine_id;                   // "" = "<host>:<pid>:<start unix ms>"
  int max_streams = 0;                     // streams this engine takes at most; 0 = no limit
  Duration lease = Duration::seconds(10);  // failover takes about this long (+ a reconnect)
  int max_moves = 1;                       // streams moved at once to rebalance or drain
};

class EngineNode {
 public:
  // Errors: the Store's (store.bad_url, store.open, store.migration), the engine's (rtsp.bind).
  static Result<std::unique_ptr<EngineNode>> start(EngineNodeOptions options);
  ~EngineNode();
  EngineNode(const EngineNode&) = delete;
  EngineNode& operator=(const EngineNode&) = delete;

  void stop();
  // Hands every stream over to the other engines, max_moves at a time, each batch once another
  // engine holds it (or `limit` passed); then runs nothing. Call before stop(). Returns whether
  // all were handed over.
  bool drain(Duration limit);
  const std::string& id() const;
  engine::Engine& engine();
  engine::LiveEndpointStats live_stats() const;  // the media endpoint's viewers
  ReconcilerStats reconciler() const;
  StatusReporterStats status() const;
  events::EventWriterStats events() const;
  std::string media_url() const;  // http://host:port of the media endpoint
  // GET /metrics of this process: the engine's figures in the Prometheus text format.
  std::string metrics_text() const;

  struct Impl;

 private:
  explicit EngineNode(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace orion::control
