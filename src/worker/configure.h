// What a configure message (protocol/control.h, a wire type) means to this worker: the
// detector's configuration and the motion gate's. The protocol module knows no detector type,
// so the conversion lives here, beside the code that uses it.
//
// Thread-safety: pure functions, thread-safe.
#pragma once

#include "infer/detector.h"
#include "infer/motion_gate.h"
#include "protocol/control.h"

namespace orion::worker {

// Every field of the wire settings, one to one (configure_test.cc keeps the defaults equal).
infer::MotionGateConfig to_motion_gate_config(const protocol::MotionGateSettings& s);
// The model part of `c` plus its min_score (score_threshold) and iou (iou_threshold). The
// device is carried as sent (already in core/device.h's grammar, the decoder saw to that);
// whether the kind can run there is infer::create_detector()'s check.
infer::DetectorConfig to_detector_config(const protocol::WorkerConfig& c);

}  // namespace orion::worker
