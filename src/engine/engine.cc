#include "engine/engine.h"

#include <spdlog/spdlog.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <map>

#include "core/frame_pool.h"
#include "infer/registry.h"
#include "ipc/ipc_bridge.h"
#include "media/frame_timeline.h"

namespace orion::engine {

namespace {

// The path posix_spawn needs for a pipeline's `worker` executable: a name with a '/' as is, a
// bare name from PATH. Empty when it is not an executable file.
bool is_executable_file(const std::string& path) {
  struct stat st {};
  return ::stat(path.c_str(), &st) == 0 && S_ISREG(st.st_mode) && ::access(path.c_str(), X_OK) == 0;
}

std::string find_executable(const std::string& exe) {
  if (exe.find('/') != std::string::npos) return is_executable_file(exe) ? exe : "";
  const char* path = std::getenv("PATH");
  std::string dirs = path ? path : "/usr/local/bin:/usr/bin:/bin";
  size_t start = 0;
  while (start <= dirs.size()) {
    const size_t colon = std::min(dirs.find(':', start), dirs.size());
    const std::string dir = dirs.substr(start, colon - start);
    const std::string candidate = (dir.empty() ? std::string(".") : dir) + "/" + exe;
    if (is_executable_file(candidate)) return candidate;
    start = colon + 1;
  }
  return "";
}

struct Stream {
  StreamConfig config;
  StreamId id = 0;
  HeapFramePool pool;
  std::shared_ptr<ipc::ShmFramePool> shm;  // instead of `pool` when the stream has pipelines
  std::unique_ptr<ipc::IpcBridge> bridge;  // supplier → shm mailboxes of the workers
  std::unique_ptr<FrameSupplier> supplier;
  media::FrameTimeline timeline;
  std::unique_ptr<media::Capture> capture;     // null when the url was refused
  media::StreamStatus failed;                  // the refusal, when capture is null
  std::shared_ptr<media::StreamOutput> output;
  std::unique_ptr<media::Compositor> compositor;
};

// The pipeline's motion gate as the worker's configure message carries it (one to one; the
// worker maps it back, worker/configure.h).
protocol::MotionGateSettings to_wire(const infer::MotionGateConfig& g) {
  protocol::MotionGateSettings s;
  s.enabled = g.enabled;
  s.analysis_width = g.analysis_width;
  s.min_motion_fraction = g.min_motion_fraction;
  s.history = g.history;
  s.var_threshold = g.var_threshold;
  s.learning_rate = g.learning_rate;
  s.max_skipped_in_row = g.max_skipped_in_row;
  return s;
}

}  // namespace

struct Engine::Impl {
  Config config;
  EngineOptions options;
  ResultStore results;
  std::unique_ptr<media::RtspServer> server;
  std::vector<std::unique_ptr<Stream>> streams;  // fixed after create()
  std::vector<std::pair<PipelineSpec, Stream*>> pipelines;  // fixed after create()
  std::unique_ptr<Supervisor> supervisor;                   // null when there are no pipelines
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
  // Pipelines: check each model kind against the detector registry now, so a typo is an error
  // at start-up; a model *file* that is bad is found by its worker and retried at run time.
  std::map<std::string, PipelineSpec> specs;
  for (const auto& pc : config.pipelines) {
    if (!pc.enabled) continue;
    const ModelConfig* mc = nullptr;
    for (const auto& m : config.models)
      if (m.name == pc.model) mc = &m;
    if (mc == nullptr) return make_error("engine.bad_pipeline", "pipeline '" + pc.name + "': no model '" + pc.model + "'");
    // A pipeline with its own `worker` program interprets its model itself: only Orion's
    // worker is checked against the registry.
    if (mc->kind != "fake" && pc.worker.empty()) {
      const infer::DetectorKindInfo* kind = infer::find_detector_kind(mc->kind);
      if (kind == nullptr) {
        std::string kinds;
        for (const auto& k : infer::detector_kinds()) kinds += (kinds.empty() ? "" : ", ") + k.kind;
        return make_error("engine.bad_pipeline", "model '" + mc->name + "': unknown kind '" + mc->kind +
                                                     "' (known: " + kinds + ")");
      }
      if (kind->needs_model_file && mc->path.empty())
        return make_error("engine.bad_pipeline", "model '" + mc->name + "': kind '" + mc->kind + "' needs a path");
    }
    PipelineSpec spec;
    spec.name = pc.name;
    spec.stream = pc.stream;
    spec.sla = pc.sla;
    spec.model.kind = mc->kind;
    spec.model.path = mc->path;
    spec.model.input_width = mc->input_width;
    spec.model.input_height = mc->input_height;
    spec.model.class_names_path = mc->class_names;
    spec.model.threads = mc->threads;
    spec.model.classes = pc.classes;
    spec.min_score = pc.min_score;
    spec.motion_gate = to_wire(pc.motion_gate);
    if (!pc.worker.empty()) {
      spec.worker_command = pc.worker;
      spec.worker_command[0] = find_executable(pc.worker[0]);
      if (spec.worker_command[0].empty())
        return make_error("engine.bad_pipeline",
                          "pipeline '" + pc.name + "': worker '" + pc.worker[0] +
                              "' is not an executable file (nor found on PATH)");
    }
    specs.emplace(pc.name, std::move(spec));
  }
  StreamId next_id = 1;
  for (const auto& sc : config.streams) {
    if (!sc.enabled) continue;
    auto s = std::make_unique<Stream>();
    s->config = sc;
    s->id = next_id++;
    FrameSupplierOptions so;
    so.name = "sup-" + sc.name;
    s->supplier = std::make_unique<FrameSupplier>(so);
    uint32_t workers = 0;
    for (const auto& [name, spec] : specs) workers += spec.stream == sc.name ? 1 : 0;
    if (workers > 0) {
      ipc::ShmFramePoolOptions po;
      po.stream_id = s->id;
      po.stream_name = sc.name;
      po.slot_count = 8 + 2 * workers;  // engine: capture, inbox, latest, compositor...; 2 per worker
      po.slot_capacity = options.max_frame_bytes;
      auto pool = ipc::ShmFramePool::create(po);
      if (!pool) return pool.error();
      s->shm = std::move(pool.value());
    }
    media::CaptureOptions co = options.capture;
    co.loop = sc.loop;
    co.tls_verify = sc.tls_verify;
    FramePool& frames = s->shm ? static_cast<FramePool&>(*s->shm) : static_cast<FramePool&>(s->pool);
    auto cap = media::Capture::create(sc.name, s->id, sc.url, co, frames, *s->supplier, &s->timeline);
    if (cap) {
      s->capture = std::move(cap.value());
    } else {
      s->failed.name = sc.name;
      s->failed.state = media::StreamState::kFailed;
      s->failed.last_error = cap.error().to_string();
    }
    impl->streams.push_back(std::move(s));
  }
  for (auto& [name, spec] : specs) {
    for (auto& st : impl->streams)
      if (st->config.name == spec.stream) impl->pipelines.emplace_back(spec, st.get());
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
    if (s->shm) {
      s->bridge = std::make_unique<ipc::IpcBridge>(s->config.name, *s->supplier, s->shm);
      s->bridge->start();
    }
    s->capture->start();
  }
  if (!m.pipelines.empty()) {
    SupervisorOptions so = m.options.supervisor;
    so.worker_executable = m.options.worker_executable;
    if (so.worker_executable.empty()) {
      std::error_code ec;
      so.worker_executable = std::filesystem::read_symlink("/proc/self/exe", ec).string();
    }
    m.supervisor = std::make_unique<Supervisor>(so, m.results);
    if (auto st = m.supervisor->start(); !st) return st.error();
    for (auto& [spec, stream] : m.pipelines) {
      if (!stream->capture) continue;  // its stream was refused: nothing to read
      if (auto st = m.supervisor->add_pipeline(spec, stream->shm); !st) return st.error();
    }
  }
  m.started = true;
  return {};
}

void Engine::stop() {
  Impl& m = *impl_;
  if (m.stopped) return;
  m.stopped = true;
  if (m.supervisor) m.supervisor->stop();  // workers: stop message, grace, SIGKILL, reaped
  for (auto& s : m.streams) {
    if (s->capture) s->capture->stop();
  }
  for (auto& s : m.streams) {
    if (s->compositor) s->compositor->stop();
    s->supplier->stop();
    if (s->bridge) s->bridge->stop();
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

std::vector<PipelineStats> Engine::pipelines() const {
  std::vector<PipelineStats> out;
  if (impl_->supervisor) out = impl_->supervisor->stats();
  // A pipeline whose stream was refused has no worker: report it failed, with the reason.
  for (const auto& [spec, stream] : impl_->pipelines) {
    if (stream->capture) continue;
    PipelineStats p;
    p.name = spec.name;
    p.stream = spec.stream;
    p.sla = spec.sla;
    p.state = PipelineState::kFailed;
    p.motion_gate = spec.motion_gate.enabled;
    p.last_error = "stream '" + spec.stream + "' is not running: " + stream->failed.last_error;
    out.push_back(std::move(p));
  }
  return out;
}

int Engine::rtsp_port() const { return impl_->server ? impl_->server->port() : 0; }

}  // namespace orion::engine
