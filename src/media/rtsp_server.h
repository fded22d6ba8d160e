// RtspServer: serves each stream's annotated output as H.264 over RTSP at
// rtsp://HOST:PORT/<stream-name>, for any number of clients.
//
// Design (docs/adr/0022-always-on-encoder-fan-out.md): each StreamOutput owns an encoder
// pipeline that runs whether or not anyone watches:
//     appsrc (I420) → x264enc tune=zerolatency (or a hardware encoder) → h264parse → appsink
// and the RTSP mount is a shared media whose pipeline is
//     appsrc → h264parse config-interval=-1 → rtph264pay
// The encoder's access units are fanned out to every prepared media's appsrc, each starting at
// a keyframe. Live media refuse seeks (no client can reset the others' timestamps); sinks get
// processing-deadline=0 and client sockets TCP_NODELAY (DESIGN.md, GStreamer pitfalls).
//
// Lifecycle: start() binds the port and runs the server's GMainLoop on its own thread →
// add_output() / remove_output() per stream at any time (mount exists at once; the encoder starts
// with the first picture and is rebuilt if the picture size changes) → stop() (idempotent; closes
// clients, joins). An exception escaping the main loop ends its thread, not the process: failure()
// says why. Ownership: StreamOutput objects are shared with their producers; they stay usable
// (submit fails harmlessly) after the server stops. Thread-safety: RtspServer methods are
// thread-safe; StreamOutput::submit() is for one producer thread, stats() for any. Locks:
// RtspServer::mu guards the output map; StreamOutput's mutex guards its encoder pipeline and is
// held while that pipeline is torn down (joining its streaming thread); the fan-out mutex guards
// the list of client media and is a leaf (taken by the encoder's streaming thread and the server's
// main loop, never while taking another lock), so the teardown cannot deadlock with a delivery.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>

#include "core/result.h"
#include "media/encoder_input.h"

namespace orion::media {

struct RtspServerOptions {
  int port = 8554;                  // 0: any free port (see port())
  std::string address = "0.0.0.0";  // bind address
};

struct OutputOptions {
  int bitrate_kbps = 0;            // 0: chosen from size and fps
  Duration key_interval = Duration::seconds(1);  // a new viewer sees video within about this
  std::string encoder;             // "" = best available (nvh264enc, vah264enc, x264enc)
  // Pictures that may wait for the encoder (ADR 0091). An encoder late by fewer pictures than
  // this (a loaded machine: x264 preempted for a few frame intervals) encodes them late
  // instead of losing them; a picture submitted while this many wait is refused
  // ("output.full") and counted in OutputStats::dropped, so latency never grows past it.
  size_t encoder_queue = 8;
};

struct OutputStats {
  uint64_t submitted = 0;     // pictures handed to the encoder
  uint64_t by_reference = 0;  // of those, handed without a copy (submit_picture)
  uint64_t dropped = 0;       // pictures refused: encoder_queue pictures were waiting
  uint64_t encoded = 0;       // access units out of the encoder
  uint64_t sent = 0;          // access units pushed into client media (sum over media)
  uint64_t media = 0;         // client media (shared per mount) currently fed
  int width = 0;
  int height = 0;
  std::string encoder;        // encoder element in use
  uint64_t encoder_builds = 0;  // encoder pipelines built (1, +1 per picture size change)
  uint64_t encoded_sinks = 0;   // live-view taps attached (add_encoded_sink)
};

// One access unit out of the encoder, as the live view takes it (live_feed.h).
struct EncodedFrame {
  std::shared_ptr<const std::string>
      annexb;  // Annex B, one whole access unit; SPS+PPS on keyframes
  bool keyframe = false;
  Duration pts;       // the encoder's pts (the compositor's output pts)
  Duration duration;  // the picture's duration (zero when unknown)
  // The camera frame the picture was drawn on; nullopt for a synthetic picture (signal lost).
  std::optional<FrameIdentity> identity;
  int width = 0;
  int height = 0;
  int fps = 0;  // the encoder's nominal frame rate (0: unknown)
};
// Called on the encoder's streaming thread for every access unit; must not block (queue and
// return). It runs under the output's tap lock, which is taken after nothing else.
using EncodedSink = std::function<void(const EncodedFrame&)>;

class StreamOutput final : public EncoderInput {
 public:
  ~StreamOutput() override;
  Result<Timestamp> submit(const Picture& image, Duration pts, Duration duration) override;
  Result<Timestamp> submit_frame(const Picture& image, Duration pts, Duration duration,
                                 const FrameIdentity* identity) override;
  // A packed I420 picture whose rows have GStreamer's default strides (width a multiple of 8)
  // goes to the encoder by reference: the GstBuffer wraps its pixels and holds `picture` until
  // the encoder lets it go. Any other picture is copied as submit_frame() does.
  Result<Timestamp> submit_picture(const FramePtr& picture, Duration pts, Duration duration,
                                   const FrameIdentity* identity) override;
  OutputStats stats() const;
  const std::string& name() const;
  // Taps the encoded output (one copy of each access unit, shared by every tap; no extra
  // encode): `sink` is called for every access unit from now on. Returns its id.
  uint64_t add_encoded_sink(EncodedSink sink);
  // After it returns, the sink is never called again. Unknown ids are ignored.
  void remove_encoded_sink(uint64_t id);
  // Ends the encoder; submit() then fails harmlessly. Idempotent (RtspServer::remove_output and
  // the destructor call it).
  void close();

  struct Impl;
  explicit StreamOutput(std::unique_ptr<Impl> impl);

 private:
  // submit_frame/submit_picture: `keep` non-null and a wrappable picture = by reference.
  Result<Timestamp> push(const Picture& image, const FramePtr& keep, Duration pts,
                         Duration duration, const FrameIdentity* identity);
  std::unique_ptr<Impl> impl_;
};

class RtspServer {
 public:
  // Errors: "rtsp.bind" (the port is in use or the address is bad).
  static Result<std::unique_ptr<RtspServer>> start(RtspServerOptions options);
  ~RtspServer();
  RtspServer(const RtspServer&) = delete;
  RtspServer& operator=(const RtspServer&) = delete;

  // Mounts /<name>. Errors: "rtsp.bad_name", "rtsp.duplicate".
  Result<std::shared_ptr<StreamOutput>> add_output(const std::string& name, OutputOptions options = {});
  // Unmounts /<name>: new clients get 404, every client with a session on it is disconnected,
  // and the output is closed. Other mounts and their
  // clients are untouched. Errors: "rtsp.unknown_output", "rtsp.stopped".
  Status remove_output(const std::string& name);
  int port() const;
  // Why the server's main loop thread died ("" while it serves): clients can no longer connect,
  // the rest of the process goes on.
  std::string failure() const;
  std::string url(const std::string& name, const std::string& host = "127.0.0.1") const;
  void stop();

  struct Impl;

 private:
  explicit RtspServer(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace orion::media
