// Test fixtures for RTSP, real components on loopback (no mocks):
//
// RtspSourceFixture: an RTSP "camera" served by gst-rtsp-server — an asset video file (its
//   H.264 track payloaded as is, played in real time; audio not served) or a live test pattern
//   encoded with x264. stop() really closes the port and every client; restart() serves again
//   on the same port (the reconnect test kills the source for 5 s this way); set_frozen()
//   keeps the sessions open but stops the packets (a stalled camera). Given a certificate
//   (TlsServerFiles), it serves RTSP over TLS instead: url() is rtsps://, every RTSP request
//   and the interleaved RTP/RTCP go through the TLS connection (TCP only; no plain UDP).
// SelfSignedCertificate: a throwaway self-signed certificate and private key (PEM files, made
//   by the `openssl` command in a fresh temporary folder, removed by the destructor) for the
//   TLS fixture; nothing is ever written into the repository.
// RtspTestClient: an in-process GStreamer client (rtspsrc → decodebin → GRAY8 appsink) that
//   records every decoded picture: arrival time, pts, size and the sequence stamp read back
//   (media/overlay.h), so a test can prove frame count, fps, resolution and no repeats.
//
// Lifecycle: start with the static constructors; stop() is idempotent and run by the
// destructor. Thread-safety: each object is used by one test thread; frames() may be called
// while the client runs.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "core/result.h"
#include "core/time.h"

namespace orion::media::testing {

// A server certificate and its private key, PEM files.
struct TlsServerFiles {
  std::string certificate;
  std::string key;
};

class SelfSignedCertificate {
 public:
  // Subject CN and subjectAltName IP 127.0.0.1 (so a client that trusted it would find the
  // host right: an untrusted issuer is the only fault). Errors: "testing.tls" (no openssl,
  // or it failed: message has its output).
  static Result<std::unique_ptr<SelfSignedCertificate>> generate();
  ~SelfSignedCertificate();  // removes the files and their folder
  SelfSignedCertificate(const SelfSignedCertificate&) = delete;
  SelfSignedCertificate& operator=(const SelfSignedCertificate&) = delete;

  const TlsServerFiles& files() const { return files_; }

 private:
  SelfSignedCertificate(std::string dir, TlsServerFiles files);
  std::string dir_;
  TlsServerFiles files_;
};

// How the plain relay (serve_relay) encodes: what Orion's output uses for the same picture.
struct RelayEncoding {
  int bitrate_kbps = 2000;
  int key_int_max = 25;
  int rtsp_latency_ms = 100;  // rtspsrc jitterbuffer latency (Orion's capture default)
};

struct StampLog;

class RtspSourceFixture {
 public:
  // A live test pattern (I420) whose every picture carries a code (media/overlay.h sequence
  // stamp: 1, 2, 3, ... across all its clients) stamped just before the source's encoder;
  // stamped_at(code) says when (SteadyClock): a client that reads the code back knows the
  // glass-to-glass latency of that very picture. Errors: "rtsp.bind".
  static Result<std::unique_ptr<RtspSourceFixture>> serve_stamped_pattern(int width, int height,
                                                                          int fps, int port = 0);
  // A plain GStreamer relay of `source_url` (the baseline of `orion bench relay`): one shared
  // media, rtspsrc (TCP) → depay → parse → avdec_h264 → x264enc zerolatency (enc) → parse → pay.
  // Errors: "rtsp.bind".
  static Result<std::unique_ptr<RtspSourceFixture>> serve_relay(const std::string& source_url,
                                                                const RelayEncoding& enc,
                                                                int port = 0);
  // Stamped pattern only: when code `code` was stamped (nullopt: never, or not stamped).
  std::optional<Timestamp> stamped_at(uint64_t code) const;
  uint64_t stamped() const;  // codes stamped so far (the last code)

  // `port` 0 picks a free port; `tls` serves rtsps:// with that certificate. Errors:
  // "rtsp.bind", "rtsp.tls" (the certificate or key cannot be loaded).
  static Result<std::unique_ptr<RtspSourceFixture>> serve_file(const std::string& path, int port = 0,
                                                               std::optional<TlsServerFiles> tls = std::nullopt);
  static Result<std::unique_ptr<RtspSourceFixture>> serve_pattern(int width, int height, int fps, int port = 0,
                                                                  std::optional<TlsServerFiles> tls = std::nullopt);
  ~RtspSourceFixture();
  RtspSourceFixture(const RtspSourceFixture&) = delete;
  RtspSourceFixture& operator=(const RtspSourceFixture&) = delete;

  std::string url() const;  // rtsp://127.0.0.1:PORT/src (rtsps:// when serving TLS)
  int port() const;
  // Frozen: the server keeps every connection open but sends no more video (a stalled camera).
  void set_frozen(bool frozen);
  void stop();        // close every client and the listening socket
  Status restart();   // listen again on the same port

  struct Impl;

 private:
  explicit RtspSourceFixture(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

struct ReceivedFrame {
  Timestamp arrival;                 // SteadyClock, when the decoded picture came out
  Duration pts;                      // buffer pts (running time of the client pipeline)
  int width = 0;
  int height = 0;
  std::optional<uint64_t> sequence;  // the sequence stamp, when readable
};

// What the client's depayloader saw, counted on its streaming thread: where a picture that
// never came out was lost. A gap in the RTP sequence numbers is a loss between the server's
// payloader and this client; a picture missing with no gap was lost before the payloader.
struct RtpCounters {
  uint64_t packets = 0;       // RTP packets into the depayloader
  uint64_t lost = 0;          // sequence numbers skipped (the sum of the gaps)
  uint64_t access_units = 0;  // buffers out of the depayloader (one per picture)
};

class RtspTestClient {
 public:
  // `tcp` selects the RTSP transport; `latency_ms` is rtspsrc's jitterbuffer latency (0: the
  // lowest a client can get, for glass-to-glass measurements). Errors: "media.missing_plugin".
  static Result<std::unique_ptr<RtspTestClient>> start(const std::string& url, bool tcp = true,
                                                       int latency_ms = 100);
  ~RtspTestClient();
  RtspTestClient(const RtspTestClient&) = delete;
  RtspTestClient& operator=(const RtspTestClient&) = delete;

  std::vector<ReceivedFrame> frames() const;
  // The frames recorded since the last take_frames() (or the start), forgotten here: a long
  // run (the soak bench) keeps the client's memory flat this way.
  std::vector<ReceivedFrame> take_frames();
  RtpCounters rtp() const;    // since the start
  std::string error() const;  // "" unless the pipeline posted an error
  bool ended() const;         // the server ended the stream (end of stream) or an error came
  void stop();

  struct Impl;

 private:
  explicit RtspTestClient(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace orion::media::testing
