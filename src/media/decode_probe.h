// The raw decoder limit of a file: how fast `filesrc ! decodebin ! fakesink sync=false`
// decodes it (no clock, no conversion, no consumer). The baseline of `orion bench ingest`.
//
// Thread-safety: independent calls may run concurrently.
#pragma once

#include <cstdint>
#include <string>

#include "core/result.h"
#include "core/time.h"

namespace orion::media {

struct DecodeRate {
  uint64_t frames = 0;   // video frames decoded
  Duration elapsed;      // PLAYING → EOS
  double fps = 0;        // frames / elapsed
  std::string decoder;   // decoder element decodebin chose
};

// Errors: "media.not_found", "media.not_video", "media.timeout" (no EOS within `limit`), ...
Result<DecodeRate> measure_decode_rate(const std::string& path, Duration limit = Duration::seconds(300));

}  // namespace orion::media
