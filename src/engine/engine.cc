#include "engine/engine.h"

#include <spdlog/spdlog.h>

#include "core/frame_pool.h"
#include "media/frame_timeline.h"

namespace orion::engine {

namespace {

struct Stream {
  StreamConfig config;
  StreamId id = 0;
  HeapFramePool pool;
  std::unique_ptr<FrameSupplier> supplier;
  media::FrameTimeline timeline;
  std::unique_ptr<media::Capture> capture;     // null when the url was refused
  media::StreamStatus failed;                  // the refusal, when capture is null
  std::shared_ptr<media::StreamOutput> output;
  std::unique_ptr<media::Compositor> compositor;
};

}  // namespace

struct Engine::Impl {
  Config config;
  EngineOptions options;
  ResultStore results;
  std::unique_ptr<media::RtspServer> server;
  std::vector<std::unique_ptr<Stream>> streams;  // fixed after create()
  bool started = false;
  bool stopped = false;

  const Stream* find(const std::string& name) const {
    for (const auto& s : streams) {
      if (s->config.name == name) return s.get();
    }
    return nullptr;
  }

  StreamReport report_of(const Stream& s) const {
    StreamReport r;
    r.capture = s.capture ? s.capture->status() : s.failed;
    if (s.compositor) r.compositor = s.compositor->stats();
    if (s.output) r.output = s.output->stats();
    if (server) r.output_url = server->url(s.config.name, options.public_host);
    return r;
  }
};

Engine::Engine(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Engine::~Engine() { stop(); }

Result<std::unique_ptr<Engine>> Engine::create(Config config, EngineOptions options) {
  auto impl = std::make_unique<Impl>();
  impl->options = options;
  StreamId next_id = 1;
  for (const auto& sc : config.streams) {
    if (!sc.enabled) continue;
    auto s = std::make_unique<Stream>();
    s->config = sc;
    s->id = next_id++;
    FrameSupplierOptions so;
    so.name = "sup-" + sc.name;
    s->supplier = std::make_unique<FrameSupplier>(so);
    media::CaptureOptions co = options.capture;
    co.loop = sc.loop;
    auto cap = media::Capture::create(sc.name, s->id, sc.url, co, s->pool, *s->supplier, &s->timeline);
    if (cap) {
      s->capture = std::move(cap.value());
    } else {
      s->failed.name = sc.name;
      s->failed.state = media::StreamState::kFailed;
      s->failed.last_error = cap.error().to_string();
    }
    impl->streams.push_back(std::move(s));
  }
  if (impl->streams.empty()) {
    return make_error("engine.no_streams", (config.source.empty() ? std::string("config") : config.source) +
                                               ": no enabled stream to run");
  }
  impl->config = std::move(config);
  return std::unique_ptr<Engine>(new Engine(std::move(impl)));
}

Status Engine::start() {
  Impl& m = *impl_;
  if (m.started) return {};
  media::RtspServerOptions ro;
  ro.port = m.options.rtsp_port;
  ro.address = m.options.rtsp_address;
  auto server = media::RtspServer::start(ro);
  if (!server) return server.error();
  m.server = std::move(server.value());
  for (auto& s : m.streams) {
    if (!s->capture) {
      spdlog::error("stream '{}' not started: {}", s->config.name, s->failed.last_error);
      continue;
    }
    auto out = m.server->add_output(s->config.name, m.options.output);
    if (!out) return out.error();
    s->output = std::move(out.value());
    media::CompositorOptions co;
    co.stream_name = s->config.name;
    co.stream_id = s->id;
    co.signal_lost_after = m.options.signal_lost_after;
    co.stamp_sequence = m.options.stamp_sequence;
    co.draw = m.options.draw_overlay;
    co.latency_capacity = m.options.latency_capacity;
    media::Capture* cap = s->capture.get();
    co.status_text = [cap] {
      const auto st = cap->status();
      return std::string(media::to_string(st.state)) + (st.last_error.empty() ? "" : ": " + st.last_error);
    };
    s->compositor = std::make_unique<media::Compositor>(*s->supplier, m.results, *s->output, &s->timeline, co);
    s->compositor->start();
    s->capture->start();
  }
  m.started = true;
  return {};
}

void Engine::stop() {
  Impl& m = *impl_;
  if (m.stopped) return;
  m.stopped = true;
  for (auto& s : m.streams) {
    if (s->capture) s->capture->stop();
  }
  for (auto& s : m.streams) {
    if (s->compositor) s->compositor->stop();
    s->supplier->stop();
  }
  if (m.server) m.server->stop();
}

std::vector<StreamReport> Engine::report() const {
  std::vector<StreamReport> out;
  for (const auto& s : impl_->streams) out.push_back(impl_->report_of(*s));
  return out;
}

std::optional<StreamReport> Engine::report(const std::string& stream) const {
  const Stream* s = impl_->find(stream);
  if (!s) return std::nullopt;
  return impl_->report_of(*s);
}

std::vector<media::FrameLatency> Engine::latencies(const std::string& stream) const {
  const Stream* s = impl_->find(stream);
  if (!s || !s->compositor) return {};
  return s->compositor->latencies();
}

FrameSupplier* Engine::supplier(const std::string& stream) {
  const Stream* s = impl_->find(stream);
  return s ? s->supplier.get() : nullptr;
}

ResultStore& Engine::results() { return impl_->results; }

int Engine::rtsp_port() const { return impl_->server ? impl_->server->port() : 0; }

}  // namespace orion::engine
