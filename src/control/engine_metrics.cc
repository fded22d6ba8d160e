#include "control/engine_metrics.h"

namespace orion::control {

metrics::Snapshot engine_snapshot(const engine::Engine& engine, const std::string& engine_id,
                                  const std::map<std::string, double>& fps_in) {
  metrics::Snapshot s;
  for (const auto& r : engine.report()) {
    metrics::StreamSample m;
    m.stream = r.capture.name;
    m.engine = engine_id;
    m.state = std::string(media::to_string(r.capture.state));
    m.frames_in = r.capture.frames;
    m.frames_out = r.compositor.frames;
    m.reconnects = r.capture.attempts > 1 ? r.capture.attempts - 1 : 0;
    auto it = fps_in.find(r.capture.name);
    m.fps_in = it == fps_in.end() ? 0 : it->second;
    m.fps_out = r.compositor.fps;
    s.streams.push_back(std::move(m));
  }
  for (const auto& p : engine.pipelines()) {
    metrics::PipelineSample m;
    m.pipeline = p.name;
    m.stream = p.stream;
    m.engine = engine_id;
    m.state = engine::to_string(p.state);
    m.offered = p.offered;
    m.taken = p.taken;
    m.dropped = p.dropped;
    m.results = p.results;
    m.restarts = p.restarts;
    m.restart_reasons = p.restart_reasons;
    m.violations = p.violations;
    m.last_result_age_s =
        p.last_result_age == Duration::max() ? -1 : p.last_result_age.as_seconds();
    m.motion_skipped = p.motion_skipped;
    s.pipelines.push_back(std::move(m));
  }
  if (auto proc = metrics::read_process_sample(); proc.ok()) {
    s.process = *proc;
  } else {
    s.comments.push_back("process figures missing: " + proc.error().code);
  }
  return s;
}

}  // namespace orion::control
