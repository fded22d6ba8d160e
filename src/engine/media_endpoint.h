// MediaEndpoint: the engine's own HTTP server, for what only the engine that owns a stream can
// give — its newest annotated picture — and the engine's metrics. The engine registers its
// address in the database (EngineRecord::media_url); the API relays snapshots from there
// (api/service.h), so no control state passes between the two except through the database.
// docs/design/media_endpoint.md has the design.
//
//   GET /media/streams/{name}/snapshot.jpg  200 image/jpeg (Cache-Control: no-store,
//                                           X-Orion-Frame-Sequence, X-Orion-Frame-Pts-Ns);
//                                           404 snapshot.not_available (no such stream here,
//                                           or no picture yet); 400 media.invalid_name
//   GET /metrics                            Prometheus text; 404 metrics.not_configured
//   GET /healthz                            {"status":"ok"}, open even with a token
//   GET /media/streams/{name}/live          WebSocket: the live view, fMP4 fragments of the
//                                           output's own H.264 (docs/design/live_view.md);
//                                           404 live.not_found, 503 live.no_picture,
//                                           400 live.not_websocket, 503 live.too_many_viewers
//   GET /media/streams/{name}/mjpeg         multipart/x-mixed-replace JPEGs
//   (X-Orion-Capture-Unix-Us
//                                           per part), one encode per frame shared by viewers
//   GET /media/streams/{name}/frames/{seq}.jpg  a frame that produced detections, while held;
//                                           404 frame.not_available
//
// Live and MJPEG viewers each get a thread of their own ("orion-live"), not an HTTP worker:
// the connection is taken over (http::ConnectionServer::take_over_connection) after the
// checks. At most max_viewers at once; stop() ends and joins them.
//
// Errors are `{"error": {"code", "message", "field"}}` (the API's shape); every error answer
// ends its connection (http::ConnectionServer). Only GET and HEAD are served (405 otherwise),
// no request may carry a body (400), and no route takes query parameters (400
// media.invalid_query). A {name} is checked before any lookup: 1 to 64 letters, digits, '_',
// '.' and '-', not starting with '.' (the API's rule for names).
//
// Security: with a token, /media/... and /metrics need `Authorization: Bearer <token>`
// (constant-time compare; 401 media.unauthorized and WWW-Authenticate otherwise). Closed by
// default: start() refuses an address other than loopback without a token unless
// allow_insecure_no_token says so. In Orion the token is ORION_API_TOKEN, which the API sends
// when it relays a snapshot.
//
// Cost: each snapshot request takes a shared reference to the compositor's newest picture (no
// pixel copy, nothing on the video path: media/compositor.h) and encodes it to JPEG on the
// HTTP worker thread that serves it, so at most `threads` encodes run at once.
//
// Lifecycle: construct (nothing runs) → start() (binds, serves on its own threads: listener
// "orion-media", `threads` workers "orion-media-http") → stop() (idempotent, also the
// destructor: stops accepting, finishes the requests in flight, joins every thread; an idle
// keep-alive connection is dropped within 2 s). Not restartable.
// Thread-safety: start/port/url/stop from the owner thread. The callbacks are called from the
// worker threads, several at once, until stop() returns: they must be thread-safe, and what
// they use must outlive stop().
#pragma once

#include <functional>
#include <memory>
#include <optional>
#include <string>

#include "core/result.h"
#include "media/compositor.h"
#include "media/jpeg.h"
#include "media/rtsp_server.h"

namespace orion::engine {

struct MediaEndpointOptions {
  std::string address = "127.0.0.1";
  int port = 0;                                   // 0: any free port (port() says which)
  std::string token;                              // "" = no token required
  bool allow_insecure_no_token = false;           // serve a non-loopback address without a token
  int jpeg_quality = media::kDefaultJpegQuality;  // 1..100
  int threads = 4;          // HTTP workers (and so the most JPEG encodes at once)
  bool access_log = false;  // one spdlog info line per request (else debug)
  int max_viewers = 64;     // live + MJPEG viewers at once (503 beyond)
  size_t live_queue_frames = 50;  // per live viewer; full: dropped to the next keyframe
  Duration viewer_write_timeout = Duration::seconds(5);  // a viewer stalled longer is ended
  // SO_SNDBUF of a viewer's socket (0: the kernel's, which grows to megabytes): what a slow
  // viewer may have in flight before its queue, then its drops, start; smaller is fresher.
  int viewer_send_buffer = 256 * 1024;
};

// The newest picture of `stream` (Compositor::last_picture() of its compositor), or nullopt
// when this engine runs no such stream or it has no picture yet. The name is already checked.
using SnapshotSource =
    std::function<std::optional<media::SnapshotPicture>(const std::string& stream)>;
// The engine's metrics in the Prometheus text format.
using MetricsSource = std::function<std::string()>;
// The encoded output of `stream` (its live-view tap), nullptr when this engine runs no such
// stream.
using LiveSource = std::function<std::shared_ptr<media::StreamOutput>(const std::string& stream)>;
// The JPEG of frame `sequence` of `stream` kept because it produced detections; nullopt when
// it is not (or no longer) held.
using EventFrameSource =
    std::function<std::optional<std::string>(const std::string& stream, uint64_t sequence)>;

struct MediaSources {
  SnapshotSource snapshot;
  MetricsSource metrics;
  LiveSource live;               // unset: every live/MJPEG request is 404
  EventFrameSource event_frame;  // unset: every frame is 404
};

struct LiveEndpointStats {
  uint64_t viewers = 0;         // live + MJPEG viewers now
  uint64_t live_sessions = 0;   // live viewers ever
  uint64_t mjpeg_sessions = 0;  // MJPEG viewers ever
  uint64_t frames_sent = 0;     // live frames sent, over all viewers
  uint64_t frames_dropped = 0;  // live frames dropped for slow viewers (queue full)
  uint64_t jpeg_encodes = 0;    // MJPEG JPEG encodes (one per frame however many watch)
  uint64_t mjpeg_parts = 0;     // MJPEG parts sent, over all viewers
};

class MediaEndpoint {
 public:
  // `snapshot` unset: every snapshot is 404. `metrics` unset: /metrics is 404.
  MediaEndpoint(MediaEndpointOptions options, SnapshotSource snapshot, MetricsSource metrics);
  MediaEndpoint(MediaEndpointOptions options, MediaSources sources);
  ~MediaEndpoint();
  MediaEndpoint(const MediaEndpoint&) = delete;
  MediaEndpoint& operator=(const MediaEndpoint&) = delete;

  // Errors: media.insecure (non-loopback address, no token, not allowed), media.bad_token
  // (whitespace or a control character in it), media.bad_options (jpeg_quality outside 1..100,
  // threads < 1, port outside 0..65535, started twice), media.bind (the address or port cannot
  // be listened on, or another server listens there).
  Status start();
  void stop();

  int port() const;         // after start(): the port listened on
  LiveEndpointStats live_stats() const;
  std::string url() const;  // "http://<address>:<port>"; an engine bound to 0.0.0.0 registers
                            // its public host instead: "http://<host>:" + port()

  struct Impl;

 private:
  std::unique_ptr<Impl> impl_;
};

}  // namespace orion::engine
