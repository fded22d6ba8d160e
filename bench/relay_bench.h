// `orion bench relay`: Orion's video path against a plain GStreamer relay on the same source,
// side by side in one run (issue 14, item 2; ADR 0080).
//
//   stamped source (this process): videotestsrc 720p25 → code stamped in the pixels, time
//     recorded → x264 → RTSP on loopback
//   system A, a child process: `orion up --config <one stream: the source>` (overlay on, no
//     pipeline; database, API and reconciler included, as a user runs it)
//   system B, a child process: `orion bench relay --serve-relay URL` — rtspsrc → avdec_h264 →
//     x264enc (Orion's encoder settings for that picture) → RTSP
//   client (this process): rtspsrc → avdec_h264 → reads each picture's code back
//
// Per picture: glass-to-glass latency = arrival at the client − stamp time of its code (exact,
// no averages); per run: p50/p99/max, output fps (pictures received / window) against the
// source's fps, repeated pictures (a code not newer than the one before), unreadable codes,
// and the CPU of the system's process (utime + stime from /proc over the window, % of one
// core). Runs alternate A, B, B, A, A, B, ... (a fresh child each), and the table gives the
// medians per system and the Orion/relay ratios, with the load average before and after.
#pragma once

#include <string>

namespace orion::bench {

struct RelayBenchOptions {
  int width = 1280, height = 720, fps = 25;
  int runs = 4;               // runs per system (alternating)
  double warmup_s = 3;        // per run, after the client's first picture
  double duration_s = 10;     // measured window per run
  std::string json_path;      // also write the results here
  int client_latency_ms = 0;  // the measuring client's rtspsrc latency
  // The relay's rtspsrc latency. 0 by default: its lowest glass-to-glass (with 100, as Orion's
  // capture, gst-rtsp-server's synchronised sinks hold each picture about that long).
  int relay_latency_ms = 0;
  // Child role (internal): serve the relay of this url on relay_port until SIGTERM/SIGINT.
  std::string serve_relay_url;
  int relay_port = 0;
  int bitrate_kbps = 0;
  int key_int_max = 0;
};

int run_relay_bench(const RelayBenchOptions& options);
int serve_relay(const RelayBenchOptions& options);

}  // namespace orion::bench
