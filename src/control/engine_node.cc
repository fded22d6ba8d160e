#include "control/engine_node.h"

#include <spdlog/spdlog.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <set>

#include "control/engine_metrics.h"
#include "control/lease_keeper.h"
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
  std::unique_ptr<store::Store> desired_store, status_store, events_store, lease_store;
  std::unique_ptr<LeaseKeeper> leases;
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
    snap.events.buffered = e.queued;
    if (reporter != nullptr) {
      const StatusReporterStats st = reporter->stats();
      snap.status_writes.present = true;
      snap.status_writes.rows_pending = st.rows_pending;
      snap.status_writes.row_write_errors = st.row_write_errors;
    }
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
  m->id = m->options.engine_id.empty() ? make_engine_id() : m->options.engine_id;
  if (m->options.max_streams < 0)
    return make_error("engine.options", "max_streams is " + std::to_string(m->options.max_streams) +
                                            ", not >= 0 (0 = no limit)");
  if (m->options.lease < Duration::millis(500))
    return make_error("engine.options", "lease is " +
                                            std::to_string(m->options.lease.as_seconds()) +
                                            " s, below the 0.5 s minimum");
  if (m->options.max_moves < 1)
    return make_error("engine.options",
                      "max_moves is " + std::to_string(m->options.max_moves) + ", not >= 1");
  auto desired = store::Store::open(m->options.db);
  if (!desired) return desired.error();
  m->desired_store = std::move(desired.value());
  auto status = store::Store::open(m->options.db);
  if (!status) return status.error();
  m->status_store = std::move(status.value());

  auto events_store = store::Store::open(m->options.db);
  if (!events_store) return events_store.error();
  m->events_store = std::move(events_store.value());
  auto lease_store = store::Store::open(m->options.db);
  if (!lease_store) return lease_store.error();
  m->lease_store = std::move(lease_store.value());
  Impl* raw = m.get();
  if (auto st = events::EventWriter::validate(m->options.events); !st) return st.error();
  events::EventWriterOptions ev = m->options.events;
  ev.epoch_of = [raw](const std::string& stream) -> int64_t {
    return raw->leases ? raw->leases->epoch_of(stream) : 0;
  };
  m->events = std::make_unique<events::EventWriter>(*m->events_store, SteadyClock::instance(), ev);
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
  store::EngineRecord identity;
  identity.id = m->id;
  identity.media_url = m->media_url;
  identity.rtsp_url =
      "rtsp://" + m->options.engine.public_host + ":" + std::to_string(m->engine->rtsp_port());
  identity.max_streams = m->options.max_streams;
  LeaseKeeperOptions lo;
  lo.identity = identity;
  lo.lease = m->options.lease;
  lo.max_moves = m->options.max_moves;
  lo.on_change = [raw] {
    if (raw->reconciler) raw->reconciler->refilter();
  };
  m->leases = std::make_unique<LeaseKeeper>(*m->lease_store, lo);
  if (auto st = m->leases->first_round(); !st) return st.error();
  auto revision = m->desired_store->desired_revision();
  if (!revision) return revision.error();
  ReconcilerOptions ro;
  ro.on_applied = [raw](const std::vector<store::PipelineRecord>& pipelines) {
    raw->apply_policies(pipelines);
  };
  ro.runnable = [raw] {
    std::set<std::string> out;
    for (const auto& [stream, epoch] : raw->leases->runnable()) out.insert(stream);
    return out;
  };
  ro.poll = Duration::millis(200);
  m->reconciler = std::make_unique<Reconciler>(*m->desired_store, *m->engine, ro);
  m->reconciler->start();
  m->reconciler->wait_applied(*revision, m->options.first_apply_limit);
  m->leases->start();

  StatusReporterOptions so;
  so.identity = identity;
  so.heartbeat = false;  // the lease keeper's rounds are the heartbeat
  so.epoch_of = [raw](const std::string& stream) { return raw->leases->epoch_of(stream); };
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
  if (m.leases) m.leases->stop();
  if (m.status) m.status->stop();
  if (m.engine) m.engine->stop();
  if (m.events) m.events->stop();         // writes what is queued, under the leases still held
  if (m.leases) m.leases->release_all();  // streams stopped: others may take them at once
}

bool EngineNode::drain(Duration limit) {
  Impl& m = *impl_;
  if (m.stopped || !m.leases) return false;
  return m.leases->drain(limit);
}

const std::string& EngineNode::id() const { return impl_->id; }
engine::Engine& EngineNode::engine() { return *impl_->engine; }
ReconcilerStats EngineNode::reconciler() const { return impl_->reconciler->stats(); }
StatusReporterStats EngineNode::status() const { return impl_->status->stats(); }

events::EventWriterStats EngineNode::events() const { return impl_->events->stats(); }

std::string EngineNode::media_url() const { return impl_->media_url; }

std::string EngineNode::metrics_text() const { return impl_->metrics_text(); }

}  // namespace orion::control
