// MotionGate: decides, frame by frame, whether a pipeline needs to run inference at all.
//
// It keeps a background model of the stream (OpenCV MOG2 on a small grey copy of the frame)
// and says "skip" when the fraction of pixels that differ from the background is below a
// threshold. A pipeline with a gate runs its detector only on frames with motion, which saves
// most of the CPU on a static scene. Skipping is an outcome, not an error: the gate counts it.
//
// Lifecycle: one gate per pipeline and stream (the background model belongs to one camera).
// The first frame always passes (there is no background yet); so does every
// `max_skipped_in_row + 1`-th frame in a row, so that detections of objects that stopped moving
// are refreshed. reset() forgets the background (e.g. after the camera reconnects).
//
// Thread-safety: thread-compatible (one thread calls update(); stats() from the same thread).
// OpenCV is private to motion_gate.cc.
#pragma once

#include <cstdint>
#include <memory>

#include "core/frame.h"
#include "core/result.h"

namespace orion::infer {

// Per-pipeline settings (the pipeline config carries one of these).
struct MotionGateConfig {
  bool enabled = false;      // disabled: every frame passes, nothing is computed
  int analysis_width = 320;  // the frame is scaled down to this width (keeping aspect) first
  double min_motion_fraction = 0.002;  // pass when at least this fraction of pixels moved
  int history = 200;                   // MOG2 history (frames)
  double var_threshold = 16;           // MOG2 varThreshold
  double learning_rate = -1;           // MOG2 learning rate; -1 = automatic from history
  int max_skipped_in_row = 50;  // after this many skips in a row, pass one frame anyway (0 = never)
};

struct MotionGateStats {
  uint64_t frames = 0;   // update() calls that returned a decision
  uint64_t passed = 0;   // frames for which inference should run
  uint64_t skipped = 0;  // frames skipped for lack of motion (frames == passed + skipped)
};

struct MotionDecision {
  bool run_inference = true;
  double motion_fraction = 0;  // fraction of analysed pixels in the foreground, 0..1
};

class MotionGate {
 public:
  explicit MotionGate(MotionGateConfig config = {});
  ~MotionGate();
  MotionGate(MotionGate&&) noexcept;
  MotionGate& operator=(MotionGate&&) noexcept;

  // Feeds one frame to the background model and says whether to run inference on it.
  // Accepts host frames in BGR24, RGB24, GRAY8, I420 and NV12 (YUV frames use their Y plane
  // directly). Error codes: "motion_gate.unsupported_frame", "motion_gate.failed" (OpenCV threw).
  // A failed update counts nothing.
  Result<MotionDecision> update(const Frame& frame);

  const MotionGateConfig& config() const;
  MotionGateStats stats() const;
  void reset();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace orion::infer
