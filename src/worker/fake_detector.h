// Detector kind "fake": no model, a fixed detection in the middle of the frame, after an
// optional delay. For tests and benchmarks of the worker machinery (restarts, leases, result
// path) that must not spend their time in real forward passes. Reads the frame's first and
// last byte so that a bad mapping would fault here, like a real detector.
//
// Thread-safety: thread-compatible, like every Detector.
#pragma once

#include "infer/detector.h"

namespace orion::worker {

infer::DetectorPtr make_fake_detector(int delay_ms);

}  // namespace orion::worker
