#include "control/engine_metrics.h"

namespace orion::control {

namespace {

metrics::HistogramSample sample_of(const engine::LatencyHistogram& h) {
  metrics::HistogramSample s;
  s.bounds = engine::LatencyHistogram::bounds();
  s.counts = h.counts();
  s.sum = h.sum_seconds();
  return s;
}

}  // namespace

metrics::Snapshot engine_snapshot(const engine::Engine& engine, const std::string& engine_id,
                                  const std::map<std::string, double>& fps_in) {
  metrics::Snapshot s;
  const auto stream_latency = engine.latency().streams();
  const auto pipeline_latency = engine.latency().pipelines();
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
    if (auto l = stream_latency.find(r.capture.name); l != stream_latency.end()) {
      m.latency["output_latency"] = sample_of(l->second.output_latency);
      m.latency["decode_to_publish"] = sample_of(l->second.decode_to_publish);
      m.latency["publish_to_composite"] = sample_of(l->second.publish_to_composite);
      m.latency["composite_to_encoder"] = sample_of(l->second.composite_to_encoder);
    }
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
    if (auto l = pipeline_latency.find(p.name); l != pipeline_latency.end()) {
      m.latency["frame_age_at_inference"] = sample_of(l->second.frame_age_at_inference);
      m.latency["inference"] = sample_of(l->second.inference);
      m.latency["result_latency"] = sample_of(l->second.result_latency);
      m.latency["result_age_drawn"] = sample_of(l->second.result_age_drawn);
      m.latency_clamped = l->second.clamped;
    }
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
