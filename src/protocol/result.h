// The result datagram a worker sends for each frame it ran its detector on: one JSON object per
// datagram on the results socket (SOCK_SEQPACKET), tagged with the frame's identity.
//
//   {"type":"result","stream":S,"sequence":N,"pts_ns":P,"capture_ns":C,"done_ns":D,
//    "inference_ns":I,"detections":[{"class_id":K,"class":"name","score":X,"box":[x1,y1,x2,y2]}]}
//
// The pipeline is not in the payload: the engine knows whose socket it is. decode_result()
// checks everything a worker could get wrong or use against the engine:
//   - size at most kMaxResultBytes; one JSON object, nested at most 16 deep, no duplicate keys;
//   - required: type "result", stream (0..2^32-1), sequence (1..2^63-1), pts_ns (any int64),
//     capture_ns, done_ns, inference_ns (0..2^63-1), detections (at most
//     kMaxDetectionsPerResult; the engine keeps the best SupervisorOptions::
//     max_detections_per_result of them); integers must be JSON integers;
//   - each detection: class_id -1..2^31-1 (default -1), class a one-line string of at most
//     kMaxClassNameBytes (default ""), score in [0, 1] (required), box [x1, y1, x2, y2]
//     (required) of numbers finite as a float (|x| <= kMaxBoxCoordinate = FLT_MAX).
// Box coordinates are not clamped to the frame here (the decoder does not know its size): the
// engine clamps them to the frame they were found on, and drops boxes with no area in it.
//
// Thread-safety: pure functions, thread-safe.
#pragma once

#include <cstddef>
#include <limits>
#include <string>
#include <string_view>

#include "core/detection.h"
#include "core/result.h"

namespace orion::protocol {

inline constexpr size_t kMaxDetectionsPerResult = 4096;
inline constexpr size_t kMaxResultBytes = 256 * 1024;
inline constexpr size_t kMaxClassNameBytes = 128;
inline constexpr double kMaxBoxCoordinate = std::numeric_limits<float>::max();

// `r.pipeline` is not sent. Detections beyond the first kMaxDetectionsPerResult are not sent
// either, and a class name is cut to kMaxClassNameBytes. Values are not otherwise corrected: a
// detector that produced a NaN box makes a result the engine refuses (and counts).
std::string encode_result(const DetectionResult& r);
// Errors: "protocol.bad_json" (not one JSON object, too deep, duplicate key),
// "protocol.bad_result" (too big, or names the field and what was wrong with it).
Result<DetectionResult> decode_result(std::string_view datagram);

}  // namespace orion::protocol
