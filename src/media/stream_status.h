// StreamStatus: the observable state of one stream's capture (connecting, live, retrying with
// the last error, ...), as read by `orion up`, tests and, later, the API and metrics.
//
// Thread-safety: value type.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "core/time.h"

namespace orion::media {

enum class StreamState : uint8_t {
  kStopped = 0,     // not started, or stopped
  kConnecting = 1,  // a pipeline is being built / waiting for its first frame
  kLive = 2,        // frames are flowing
  kRetrying = 3,    // the last attempt failed; waiting for the backoff to expire
  kEnded = 4,       // a file without `loop` reached its end (not restarted)
  kFailed = 5,      // cannot ever work (bad url); never retried
  kStalled = 6,     // was live, then silent for stall_timeout with the connection up (or the
                    // reconnect after that got no frame yet): restarting, until a frame comes
};
std::string_view to_string(StreamState state);

struct StreamStatus {
  std::string name;
  StreamState state = StreamState::kStopped;
  std::string last_error;      // "" until an attempt failed; kept while live again
  uint64_t attempts = 0;       // pipelines started
  uint64_t frames = 0;         // frames published in total (all attempts)
  uint64_t last_sequence = 0;  // sequence of the newest published frame
  Duration retry_in;           // kRetrying: time left before the next attempt
  Duration backoff;            // current backoff delay
  int width = 0;               // of the newest frame
  int height = 0;
  double nominal_fps = 0;      // from the source caps (0 when unknown)
  std::string decoder;         // decoder element of the current/last attempt
  std::string transport;       // kRtsp: "tcp" or "udp" of the current attempt; rtsps: "tcp+tls"
  uint64_t dropped = 0;        // decoded frames not published (frame pool exhausted)
  uint64_t by_reference = 0;   // of `frames`: published holding the decoder's buffer, no copy
};

}  // namespace orion::media
