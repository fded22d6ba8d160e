#include "control/engine_node.h"

#include <spdlog/spdlog.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <set>

#include "control/engine_metrics.h"
#include "engine/media_endpoint.h"

namespace orion::control {

namespace {

std::string make_engine_id() {
  char host[256] = "";
  if (::gethostname(host, sizeof host - 1) != 0) std::snprintf(host, sizeof host, "host");
  const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(
      std::chrono::system_clock::now().time_since_epoch());
  return std::string(host) + ":" + std::to_string(::getpid()) + ":" + std::to_string(ms.count());
}

}  // namespace

struct EngineNode::Impl {
  EngineNodeOptions options;
  std::string id;
  std::unique_ptr<store::Store> desired_store, status_store, events_store;
  std::unique_ptr<events::EventWriter> events;
  std::set<std::string> policies;  // pipelines with an event policy (reconciler thread)
  std::unique_ptr<engine::Engine> engine;
  std::unique_ptr<Reconciler> reconciler;
  std::unique_ptr<StatusReporter> status;
  std::unique_ptr<engine::MediaEndpoint> media;
  // `status` for the media endpoint's threads, which start before it exists.
  std::atomic<const StatusReporter*> status_for_metrics{nullptr};
  std::string media_url;
  bool stopped = false;

  std::string metrics_text() const {
    const StatusReporter* reporter = status_for_metrics.load();
    metrics::Snapshot snap = engine_snapshot(
        *engine, id, reporter ? reporter->fps_in() : std::map<std::string, double>{});
    const events::EventWriterStats e = events->stats();
    snap.events.present = true;
    snap.events.written = e.written;
    snap.events.filtered = e.filtered + e.rate_limited + e.ignored;
    snap.events.dropped = e.dropped + e.failed + e.invalid;
    snap.events.write_errors = e.write_errors;
    return metrics::render(snap);
  }

  // The event policy of every pipeline in the desired state; none for the others.
  void apply_policies(const std::vector<store::PipelineRecord>& pipelines) {
    std::set<std::string> now;
    for (const auto& p : pipelines) {
      if (auto st = events->set_policy(p.name, p.stream, p.events); !st)
        spdlog::warn("events: pipeline '{}': {}", p.name, st.error().to_string());
      now.insert(p.name);
    }
    for (const auto& name : policies)
      if (!now.count(name)) events->remove_policy(name);
    policies = std::move(now);
  }
};

EngineNode::EngineNode(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
EngineNode::~EngineNode() { stop(); }

Result<std::unique_ptr<EngineNode>> EngineNode::start(EngineNodeOptions options) {
  auto m = std::make_unique<Impl>();
  m->options = std::move(options);
  m->id = make_engine_id();
  auto desired = store::Store::open(m->options.db);
  if (!desired) return desired.error();
  m->desired_store = std::move(desired.value());
  auto status = store::Store::open(m->options.db);
  if (!status) return status.error();
  m->status_store = std::move(status.value());

  auto events_store = store::Store::open(m->options.db);
  if (!events_store) return events_store.error();
  m->events_store = std::move(events_store.value());
  if (auto st = events::EventWriter::validate(m->options.events); !st) return st.error();
  m->events = std::make_unique<events::EventWriter>(*m->events_store, SteadyClock::instance(),
                                                    m->options.events);
  m->events->start();
  engine::EngineOptions eo = m->options.engine;
  events::EventWriter* writer = m->events.get();
  eo.supervisor.on_result = [writer](const DetectionResult& r) { writer->offer(r); };

  m->engine = engine::Engine::create_empty(eo);
  if (auto st = m->engine->start(); !st) return st.error();
  engine::MediaEndpointOptions mo;
  mo.address = m->options.http_address;
  mo.port = m->options.engine.http_port;
  mo.token = m->options.token;
  mo.allow_insecure_no_token = m->options.allow_insecure_no_token;
  mo.max_viewers = m->options.max_viewers;
  mo.viewer_send_buffer = m->options.viewer_send_buffer;
  Impl* raw = m.get();
  engine::MediaSources sources;
  sources.snapshot = [raw](const std::string& stream) { return raw->engine->snapshot(stream); };
  sources.metrics = [raw] { return raw->metrics_text(); };
  sources.live = [raw](const std::string& stream) { return raw->engine->live_output(stream); };
  sources.event_frame = [raw](const std::string& stream, uint64_t seq) {
    return raw->engine->event_frame(stream, seq);
  };
  m->media = std::make_unique<engine::MediaEndpoint>(mo, std::move(sources));
  if (auto st = m->media->start(); !st) return st.error();
  m->media_url = "http://" + m->options.engine.public_host + ":" + std::to_string(m->media->port());
  auto revision = m->desired_store->desired_revision();
  if (!revision) return revision.error();
  ReconcilerOptions ro;
  ro.on_applied = [raw](const std::vector<store::PipelineRecord>& pipelines) {
    raw->apply_policies(pipelines);
  };
  m->reconciler = std::make_unique<Reconciler>(*m->desired_store, *m->engine, ro);
  m->reconciler->start();
  m->reconciler->wait_applied(*revision, m->options.first_apply_limit);

  StatusReporterOptions so;
  so.identity.id = m->id;
  so.identity.media_url = m->media_url;
  so.identity.rtsp_url =
      "rtsp://" + m->options.engine.public_host + ":" + std::to_string(m->engine->rtsp_port());
  so.interval = m->options.status_interval;
  m->status = std::make_unique<StatusReporter>(*m->status_store, *m->engine, so);
  m->status_for_metrics.store(m->status.get());
  m->status->report_now();
  m->status->start();
  return std::unique_ptr<EngineNode>(new EngineNode(std::move(m)));
}

engine::LiveEndpointStats EngineNode::live_stats() const {
  return impl_->media ? impl_->media->live_stats() : engine::LiveEndpointStats{};
}

void EngineNode::stop() {
  Impl& m = *impl_;
  if (m.stopped) return;
  m.stopped = true;
  if (m.media) m.media->stop();  // its callbacks read the engine
  if (m.reconciler) m.reconciler->stop();
  if (m.status) m.status->stop();
  if (m.engine) m.engine->stop();
  if (m.events) m.events->stop();  // writes what is queued
}

const std::string& EngineNode::id() const { return impl_->id; }
engine::Engine& EngineNode::engine() { return *impl_->engine; }
ReconcilerStats EngineNode::reconciler() const { return impl_->reconciler->stats(); }
StatusReporterStats EngineNode::status() const { return impl_->status->stats(); }

events::EventWriterStats EngineNode::events() const { return impl_->events->stats(); }

std::string EngineNode::media_url() const { return impl_->media_url; }

std::string EngineNode::metrics_text() const { return impl_->metrics_text(); }

}  // namespace orion::control
