#include "worker/configure.h"

namespace orion::worker {

infer::MotionGateConfig to_motion_gate_config(const protocol::MotionGateSettings& s) {
  infer::MotionGateConfig g;
  g.enabled = s.enabled;
  g.analysis_width = s.analysis_width;
  g.min_motion_fraction = s.min_motion_fraction;
  g.history = s.history;
  g.var_threshold = s.var_threshold;
  g.learning_rate = s.learning_rate;
  g.max_skipped_in_row = s.max_skipped_in_row;
  return g;
}

infer::DetectorConfig to_detector_config(const protocol::WorkerConfig& c) {
  infer::DetectorConfig d;
  d.kind = c.model.kind;
  d.model_path = c.model.path;
  d.input_width = c.model.input_width;
  d.input_height = c.model.input_height;
  d.score_threshold = c.min_score;
  d.iou_threshold = c.iou;
  d.classes = c.model.classes;
  d.class_names = c.model.class_names;
  d.class_names_path = c.model.class_names_path;
  d.threads = c.model.threads;
  d.device = c.model.device;  // checked by infer::create_detector() (grammar and kind)
  return d;
}

}  // namespace orion::worker
