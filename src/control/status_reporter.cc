#include "control/status_reporter.h"

#include <spdlog/spdlog.h>

#include <nlohmann/json.hpp>

#include "core/thread.h"

namespace orion::control {

StatusReporter::StatusReporter(store::Store& store, const engine::Engine& engine,
                               StatusReporterOptions options)
    : store_(store),
      engine_(engine),
      options_(std::move(options)),
      clock_(options_.clock ? *options_.clock : SteadyClock::instance()) {}

StatusReporter::~StatusReporter() { stop(); }

void StatusReporter::start() {
  if (thread_.joinable()) return;
  thread_ = std::jthread([this](const std::stop_token& stop) {
    set_current_thread_name("orion-status");
    run_guarded(
        "status reporter", [&] { run(stop); },
        [this](std::string_view why) {
          spdlog::error("status reporter: thread died: {}", why);
          MutexLock lock(mu_);
          stats_.last_error = "status thread died: " + std::string(why);
        });
  });
}

void StatusReporter::stop() {
  if (!thread_.joinable()) return;
  thread_.request_stop();
  thread_.join();
}

StatusReporterStats StatusReporter::stats() const {
  MutexLock lock(mu_);
  return stats_;
}

std::map<std::string, double> StatusReporter::fps_in() const {
  MutexLock lock(mu_);
  return fps_in_;
}

void StatusReporter::run(const std::stop_token& stop) {
  Timestamp next = clock_.now();
  while (!stop.stop_requested()) {
    report_now();
    next = next + options_.interval;
    if (next < clock_.now()) next = clock_.now();  // a slow round (database) does not pile up
    if (!clock_.sleep_until(next, stop)) break;
  }
}

store::StreamStatusRecord StatusReporter::stream_row(const engine::StreamReport& r,
                                                     const std::string& engine_id,
                                                     uint64_t previous_frames, Duration elapsed) {
  store::StreamStatusRecord s;
  s.stream = r.capture.name;
  s.engine_id = engine_id;
  s.state = std::string(media::to_string(r.capture.state));
  s.last_error = r.capture.last_error;
  s.frames_in = r.capture.frames;
  s.frames_out = r.compositor.frames;
  s.fps_out = r.compositor.fps;
  const double seconds = elapsed.as_seconds();
  s.fps_in = seconds > 0 && r.capture.frames >= previous_frames
                 ? (r.capture.frames - previous_frames) / seconds
                 : 0;
  s.reconnects = r.capture.attempts > 1 ? r.capture.attempts - 1 : 0;
  s.output_url = r.output_url;
  return s;
}

store::PipelineStatusRecord StatusReporter::pipeline_row(const engine::PipelineStats& p,
                                                         const std::string& engine_id) {
  store::PipelineStatusRecord s;
  s.pipeline = p.name;
  s.engine_id = engine_id;
  s.state = engine::to_string(p.state);
  s.last_error = p.last_error;
  s.pid = p.pid;
  s.restarts = p.restarts;
  s.restart_reasons = p.restart_reasons;
  s.violations = p.violations;
  s.offered = p.offered;
  s.taken = p.taken;
  s.dropped = p.dropped;
  s.results = p.results;
  s.last_result_age_s = p.last_result_age == Duration::max() ? -1 : p.last_result_age.as_seconds();
  return s;
}

namespace {

nlohmann::json figures(const engine::LatencyHistogram& h) {
  return {{"count", h.count()},
          {"p50_s", h.quantile(0.50).as_seconds()},
          {"p99_s", h.quantile(0.99).as_seconds()},
          {"max_s", h.max().as_seconds()}};
}

}  // namespace

void StatusReporter::report_now() {
  MutexLock lock(mu_);
  const Timestamp now = clock_.now();
  const Duration elapsed = have_round_ ? now - last_round_ : Duration::zero();
  const std::string& id = options_.identity.id;
  bool failed = false;
  uint64_t stale = 0;
  std::string error;
  uint64_t unwritten = 0;
  auto check = [&](const Status& st) {
    // A stream or pipeline deleted since the engine's last apply has no row to write to.
    if (st.ok() || st.error().code == "store.missing_reference") return true;
    if (st.error().code == "store.stale_epoch") {  // the stream is another engine's now
      ++stale;
      return true;
    }
    failed = true;
    ++unwritten;
    error = st.error().to_string();
    return false;
  };
  if (options_.heartbeat) check(store_.heartbeat_engine(options_.identity));
  const bool fenced = static_cast<bool>(options_.epoch_of);
  auto epoch = [&](const std::string& stream) -> int64_t {
    return fenced ? options_.epoch_of(stream) : 0;
  };
  std::map<std::string, uint64_t> frames;
  std::map<std::string, double> measured;
  const auto stream_latency = engine_.latency().streams();
  const auto pipeline_latency = engine_.latency().pipelines();
  for (const auto& r : engine_.report()) {
    auto it = frames_.find(r.capture.name);
    store::StreamStatusRecord row =
        stream_row(r, id, it == frames_.end() ? r.capture.frames : it->second, elapsed);
    if (auto l = stream_latency.find(r.capture.name); l != stream_latency.end()) {
      row.latency =
          nlohmann::json{{"output_latency", figures(l->second.output_latency)},
                         {"decode_to_publish", figures(l->second.decode_to_publish)},
                         {"publish_to_composite", figures(l->second.publish_to_composite)},
                         {"composite_to_encoder", figures(l->second.composite_to_encoder)}}
              .dump();
    }
    row.epoch = epoch(r.capture.name);
    if (!fenced || row.epoch > 0) check(store_.put_stream_status(row));
    frames[r.capture.name] = r.capture.frames;
    measured[r.capture.name] = row.fps_in;
  }
  // A "stopped" row that could not be written (database down) is tried again every round.
  std::set<std::string> gone_streams = std::move(unwritten_gone_streams_);
  unwritten_gone_streams_.clear();
  for (const auto& [name, count] : frames_) gone_streams.insert(name);
  for (const auto& name : gone_streams) {
    if (frames.count(name) || fenced) continue;  // fenced: the new owner writes its row
    store::StreamStatusRecord gone;
    gone.stream = name;
    gone.engine_id = id;
    gone.state = "stopped";
    if (!check(store_.put_stream_status(gone))) unwritten_gone_streams_.insert(name);
  }
  std::set<std::string> pipelines;
  for (const auto& p : engine_.pipelines()) {
    store::PipelineStatusRecord row = pipeline_row(p, id);
    if (auto l = pipeline_latency.find(p.name); l != pipeline_latency.end()) {
      row.latency =
          nlohmann::json{{"frame_age_at_inference", figures(l->second.frame_age_at_inference)},
                         {"inference", figures(l->second.inference)},
                         {"result_latency", figures(l->second.result_latency)},
                         {"result_age_drawn", figures(l->second.result_age_drawn)},
                         {"clamped", l->second.clamped}}
              .dump();
    }
    row.epoch = epoch(p.stream);
    if (!fenced || row.epoch > 0) check(store_.put_pipeline_status(row));
    pipelines.insert(p.name);
  }
  std::set<std::string> gone_pipelines = std::move(unwritten_gone_pipelines_);
  unwritten_gone_pipelines_.clear();
  gone_pipelines.insert(pipelines_.begin(), pipelines_.end());
  for (const auto& name : gone_pipelines) {
    if (pipelines.count(name) || fenced) continue;
    store::PipelineStatusRecord gone;
    gone.pipeline = name;
    gone.engine_id = id;
    gone.state = "stopped";
    if (!check(store_.put_pipeline_status(gone))) unwritten_gone_pipelines_.insert(name);
  }
  frames_ = std::move(frames);
  fps_in_ = std::move(measured);
  pipelines_ = std::move(pipelines);
  last_round_ = now;
  have_round_ = true;
  ++stats_.rounds;
  stats_.rows_pending = unwritten;
  stats_.row_write_errors += unwritten;
  stats_.stale_refused += stale;
  if (failed) {
    stats_.last_error = error;
    ++stats_.write_errors;
    spdlog::warn("status: {}", stats_.last_error);
  }
}

}  // namespace orion::control
