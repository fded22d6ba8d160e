#include "engine/engine.h"

#include <spdlog/spdlog.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <map>

#include "core/device.h"
#include "core/thread_annotations.h"
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
  std::shared_ptr<ipc::ShmFramePool> shm;
  std::unique_ptr<FrameSupplier> supplier;
  media::FrameTimeline timeline;
  std::unique_ptr<ipc::IpcBridge> bridge;  // supplier → shm mailboxes of the workers
  std::shared_ptr<media::StreamOutput> output;
  std::unique_ptr<media::Compositor> compositor;
  // The capture may be replaced by apply() (a new url) while the compositor reads its status.
  mutable Mutex capture_mu;
  std::shared_ptr<media::Capture> capture GUARDED_BY(capture_mu);  // null when the url was refused
  media::StreamStatus failed GUARDED_BY(capture_mu);  // the refusal, when capture is null

  std::shared_ptr<media::Capture> current_capture() const {
    MutexLock lock(capture_mu);
    return capture;
  }
  media::StreamStatus status() const {
    MutexLock lock(capture_mu);
    return capture ? capture->status() : failed;
  }
};

// A pipeline the engine was asked to run: its spec, and why it does not run when it does not.
struct WantedPipeline {
  PipelineSpec spec;
  std::string error;         // "" = given to the supervisor
  bool stream_down = false;  // error is "its stream is not running": retried when it runs
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

// The worker's spec of a pipeline of `config`. Errors: "engine.bad_pipeline".
Result<PipelineSpec> build_spec(const PipelineConfig& pc, const Config& config) {
  const ModelConfig* mc = nullptr;
  for (const auto& m : config.models)
    if (m.name == pc.model) mc = &m;
  if (mc == nullptr)
    return make_error("engine.bad_pipeline",
                      "pipeline '" + pc.name + "': no model '" + pc.model + "'");
  // A pipeline with its own `worker` program interprets its model itself: only Orion's
  // worker is checked against the registry.
  if (mc->kind != "fake" && pc.worker.empty()) {
    const infer::DetectorKindInfo* kind = infer::find_detector_kind(mc->kind);
    if (kind == nullptr) {
      std::string kinds;
      for (const auto& k : infer::detector_kinds()) kinds += (kinds.empty() ? "" : ", ") + k.kind;
      return make_error("engine.bad_pipeline", "model '" + mc->name + "': unknown kind '" +
                                                   mc->kind + "' (known: " + kinds + ")");
    }
    if (kind->needs_model_file && mc->path.empty())
      return make_error("engine.bad_pipeline",
                        "model '" + mc->name + "': kind '" + mc->kind + "' needs a path");
  }
  // Orion's worker runs each kind on its own devices (ADR 0092); another worker program reads
  // the device itself. The grammar is checked at every door (config, API, store, decoder).
  if (!mc->device.empty() && pc.worker.empty()) {
    auto device = parse_inference_device(mc->device);
    Status fits = device ? check_device_for_kind(mc->kind, *device) : Status(device.error());
    if (!fits)
      return make_error("engine.bad_pipeline",
                        "model '" + mc->name + "': device: " + fits.error().message);
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
  spec.model.class_names = mc->class_names_inline;
  spec.model.threads = mc->threads;
  spec.model.fake_delay_ms = mc->fake_delay_ms;
  spec.model.device = mc->device;
  spec.model.classes = pc.classes;
  spec.min_score = pc.min_score;
  spec.iou = pc.iou;
  spec.motion_gate = to_wire(pc.motion_gate);
  if (!pc.worker.empty()) {
    spec.worker_command = pc.worker;
    spec.worker_command[0] = find_executable(pc.worker[0]);
    if (spec.worker_command[0].empty())
      return make_error("engine.bad_pipeline",
                        "pipeline '" + pc.name + "': worker '" + pc.worker[0] +
                            "' is not an executable file (nor found on PATH)");
  }
  return spec;
}

bool same_source(const StreamConfig& a, const StreamConfig& b) {
  return a.url == b.url && a.loop == b.loop && a.tls_verify == b.tls_verify &&
         a.stall_timeout == b.stall_timeout;
}

}  // namespace

struct Engine::Impl {
  EngineOptions options;
  Config initial;  // applied by start()
  ResultStore results;
  std::unique_ptr<media::RtspServer> server;  // set by start(), then constant until stop()
  std::unique_ptr<Supervisor> supervisor;     // set by start(), then constant until stop()
  StreamId next_id = 1;                       // apply_mu
  std::unique_ptr<EventFrames> event_frames;  // set by create, then constant; own thread

  // A result with detections: keep a JPEG of the frame it was found on (if still shown).
  void note_event(const DetectionResult& r) {
    if (r.detections.empty() || !event_frames || options.recent_pictures == 0) return;
    std::shared_ptr<Stream> s;
    {
      MutexLock lock(mu);
      for (const auto& [name, st] : streams)
        if (st->id == r.frame.stream) s = st;
    }
    if (!s || !s->compositor) return;
    if (event_frames->has(s->config.name, r.frame.sequence)) return;
    if (auto p = s->compositor->recent_picture(r.frame.sequence)) {
      event_frames->offer(s->config.name, std::move(*p));
    } else {
      event_frames->count_missed();
    }
  }

  Mutex apply_mu;  // serialises start/apply/stop; held across their slow work
  bool started GUARDED_BY(apply_mu) = false;
  bool stopped GUARDED_BY(apply_mu) = false;

  LatencyBook latency;
  // Streams by id, for the supervisor thread's vouch() (a leaf: nothing is called under it).
  struct ById {
    std::string name;
    std::shared_ptr<Stream> stream;
  };
  mutable Mutex ids_mu;
  std::map<StreamId, ById> by_id GUARDED_BY(ids_mu);

  mutable Mutex mu ACQUIRED_AFTER(apply_mu);  // the maps; held only to read or swap entries
  std::map<std::string, std::shared_ptr<Stream>> streams GUARDED_BY(mu);
  std::map<std::string, WantedPipeline> pipelines GUARDED_BY(mu);

  std::shared_ptr<Stream> find(const std::string& name) const {
    MutexLock lock(mu);
    auto it = streams.find(name);
    return it == streams.end() ? nullptr : it->second;
  }

  StreamReport report_of(const Stream& s) const {
    StreamReport r;
    r.capture = s.status();
    if (s.compositor) r.compositor = s.compositor->stats();
    if (s.output) r.output = s.output->stats();
    if (server) r.output_url = server->url(s.config.name, options.public_host);
    return r;
  }

  // A result from a worker (supervisor thread): the frame's capture time becomes the engine's
  // own when its timeline still knows the frame (else the claim, bounded by now), and its
  // latencies are recorded.
  void vouch(DetectionResult& r) {
    const Timestamp back = SteadyClock::instance().now();
    ById s;
    {
      MutexLock lock(ids_mu);
      auto it = by_id.find(r.frame.stream);
      if (it != by_id.end()) s = it->second;
    }
    Timestamp published;
    std::optional<Timestamp> decoded;
    if (s.stream) {
      decoded = s.stream->timeline.decoded(r.frame.sequence);
      published = s.stream->timeline.published(r.frame.sequence).value_or(Timestamp{});
    }
    r.frame.capture_time = decoded ? *decoded : std::min(r.frame.capture_time, back);
    if (!s.stream) return;  // its stream is going: nothing to record it for
    if (published.is_set() && published > back) published = back;
    latency.result(r.pipeline, s.name, r.frame.capture_time, published, back, r.done_time,
                   r.inference_time);
  }

  Result<std::shared_ptr<Stream>> start_stream(const StreamConfig& sc);
  void stop_stream(Stream& s);
  void replace_capture(Stream& s, const StreamConfig& sc);
  std::shared_ptr<media::Capture> make_capture(Stream& s, const StreamConfig& sc);
};

std::shared_ptr<media::Capture> Engine::Impl::make_capture(Stream& s, const StreamConfig& sc) {
  media::CaptureOptions co = options.capture;
  co.loop = sc.loop;
  co.tls_verify = sc.tls_verify;
  if (sc.stall_timeout > Duration::zero()) co.stall_timeout = sc.stall_timeout;
  auto cap = media::Capture::create(sc.name, s.id, sc.url, co, *s.shm, *s.supplier, &s.timeline);
  MutexLock lock(s.capture_mu);
  if (!cap) {
    s.capture = nullptr;
    s.failed = {};
    s.failed.name = sc.name;
    s.failed.state = media::StreamState::kFailed;
    s.failed.last_error = cap.error().to_string();
    spdlog::error("stream '{}' not started: {}", sc.name, s.failed.last_error);
    return nullptr;
  }
  s.capture = std::shared_ptr<media::Capture>(std::move(cap.value()));
  return s.capture;
}

Result<std::shared_ptr<Stream>> Engine::Impl::start_stream(const StreamConfig& sc) {
  auto s = std::make_shared<Stream>();
  s->config = sc;
  s->id = next_id++;
  FrameSupplierOptions so;
  so.name = "sup-" + sc.name;
  s->supplier = std::make_unique<FrameSupplier>(so);
  ipc::ShmFramePoolOptions po;
  po.stream_id = s->id;
  po.stream_name = sc.name;
  // engine (decoder's layout): capture, inbox, latest, compositor, ipc bridge...; BGR for the
  // workers (ADR 0080): the one being converted, then 2 per worker (one offered, one leased)
  po.slot_count = 10 + 2 * options.max_pipelines_per_stream;
  po.slot_capacity = options.max_frame_bytes;
  auto pool = ipc::ShmFramePool::create(po);
  if (!pool) return pool.error();
  s->shm = std::move(pool.value());
  auto out = server->add_output(sc.name, options.output);
  if (!out) return out.error();
  s->output = std::move(out.value());
  media::CompositorOptions co;
  co.stream_name = sc.name;
  co.stream_id = s->id;
  co.signal_lost_after = options.signal_lost_after;
  co.stamp_sequence = options.stamp_sequence;
  co.draw = options.draw_overlay;
  co.latency_capacity = options.latency_capacity;
  co.recent_pictures = options.recent_pictures;
  Stream* raw = s.get();  // the compositor is stopped before the stream goes
  co.status_text = [raw] {
    const auto st = raw->status();
    return std::string(media::to_string(st.state)) +
           (st.last_error.empty() ? "" : ": " + st.last_error);
  };
  co.nominal_fps = [raw] { return raw->status().nominal_fps; };
  co.on_frame = [this, name = sc.name](const media::FrameLatency& l,
                                       const std::vector<DetectionResult>& drawn) {
    latency.frame_output(name, l.decoded, l.published, l.composited, l.handed);
    for (const auto& r : drawn)
      latency.result_drawn(r.pipeline, l.composited - r.frame.capture_time);
  };
  {
    MutexLock lock(ids_mu);
    by_id[s->id] = ById{sc.name, s};
  }
  s->compositor =
      std::make_unique<media::Compositor>(*s->supplier, results, *s->output, &s->timeline, co);
  s->compositor->start();
  s->bridge = std::make_unique<ipc::IpcBridge>(sc.name, *s->supplier, s->shm);
  s->bridge->start();
  if (auto cap = make_capture(*s, sc)) cap->start();
  return s;
}

void Engine::Impl::stop_stream(Stream& s) {
  if (auto cap = s.current_capture()) cap->stop();
  if (s.compositor) s.compositor->stop();
  s.supplier->stop();
  if (s.bridge) s.bridge->stop();
  if (auto st = server->remove_output(s.config.name); !st)
    spdlog::warn("stream '{}': {}", s.config.name, st.error().to_string());
  {
    MutexLock lock(ids_mu);
    by_id.erase(s.id);
  }
  latency.forget_stream(s.config.name);
  if (event_frames) event_frames->forget(s.config.name);
}

void Engine::Impl::replace_capture(Stream& s, const StreamConfig& sc) {
  std::shared_ptr<media::Capture> old = s.current_capture();
  if (old) old->stop();  // one writer into the pool and supplier at a time
  s.config = sc;
  if (auto cap = make_capture(s, sc)) cap->start();
}

Engine::Engine(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {
  EventFramesOptions eo;
  eo.per_stream = impl_->options.event_frames_per_stream;
  impl_->event_frames = std::make_unique<EventFrames>(eo);
}
Engine::~Engine() { stop(); }

std::unique_ptr<Engine> Engine::create_empty(EngineOptions options) {
  auto impl = std::make_unique<Impl>();
  impl->options = std::move(options);
  return std::unique_ptr<Engine>(new Engine(std::move(impl)));
}

Result<std::unique_ptr<Engine>> Engine::create(Config config, EngineOptions options) {
  // Pipelines: check each model kind against the detector registry now, so a typo is an error
  // at start-up; a model *file* that is bad is found by its worker and retried at run time.
  for (const auto& pc : config.pipelines) {
    if (!pc.enabled) continue;
    if (auto spec = build_spec(pc, config); !spec) return spec.error();
  }
  if (std::none_of(config.streams.begin(), config.streams.end(),
                   [](const StreamConfig& s) { return s.enabled; })) {
    return make_error("engine.no_streams", (config.source.empty() ? std::string("config") : config.source) +
                                               ": no enabled stream to run");
  }
  auto engine = create_empty(std::move(options));
  engine->impl_->initial = std::move(config);
  return engine;
}

Status Engine::start() {
  Impl& m = *impl_;
  {
    MutexLock lock(m.apply_mu);
    if (m.started) return {};
    if (m.stopped) return make_error("engine.stopped", "the engine was stopped");
    media::RtspServerOptions ro;
    ro.port = m.options.rtsp_port;
    ro.address = m.options.rtsp_address;
    auto server = media::RtspServer::start(ro);
    if (!server) return server.error();
    m.server = std::move(server.value());
    SupervisorOptions so = m.options.supervisor;
    so.vouch = [&m](DetectionResult& r) { m.vouch(r); };
    Impl* self = &m;
    so.on_result = [self, user = so.on_result](const DetectionResult& r) {
      self->note_event(r);
      if (user) user(r);
    };
    m.event_frames->start();
    so.worker_executable = m.options.worker_executable;
    if (so.worker_executable.empty()) {
      std::error_code ec;
      so.worker_executable = std::filesystem::read_symlink("/proc/self/exe", ec).string();
    }
    m.supervisor = std::make_unique<Supervisor>(so, m.results);
    if (auto st = m.supervisor->start(); !st) return st.error();
    m.started = true;
  }
  const ApplyReport r = apply(m.initial);
  for (const auto& e : r.errors) spdlog::error("{}", e);
  return {};
}

ApplyReport Engine::apply(const Config& desired) {
  Impl& m = *impl_;
  ApplyReport report;
  MutexLock apply_lock(m.apply_mu);
  if (!m.started || m.stopped) {
    report.errors.push_back(m.stopped ? "engine: stopped" : "engine: not started");
    return report;
  }
  std::map<std::string, StreamConfig> want_streams;
  for (const auto& sc : desired.streams)
    if (sc.enabled) want_streams.emplace(sc.name, sc);
  std::map<std::string, WantedPipeline> want_pipes;
  std::map<std::string, uint32_t> per_stream;
  for (const auto& pc : desired.pipelines) {
    if (!pc.enabled || !want_streams.count(pc.stream)) continue;
    WantedPipeline w;
    auto spec = build_spec(pc, desired);
    if (spec) {
      w.spec = std::move(spec.value());
      if (++per_stream[pc.stream] > m.options.max_pipelines_per_stream)
        w.error = "engine.too_many_pipelines: stream '" + pc.stream + "' already has " +
                  std::to_string(m.options.max_pipelines_per_stream) + " pipelines";
    } else {
      w.spec.name = pc.name;
      w.spec.stream = pc.stream;
      w.spec.sla = pc.sla;
      w.error = spec.error().to_string();
    }
    want_pipes.emplace(pc.name, std::move(w));
  }

  std::map<std::string, std::shared_ptr<Stream>> current;
  std::map<std::string, WantedPipeline> current_pipes;
  {
    MutexLock lock(m.mu);
    current = m.streams;
    current_pipes = m.pipelines;
  }
  // 1. Pipelines that go: not wanted, or wanted differently (a fresh worker with the new spec).
  for (const auto& [name, have] : current_pipes) {
    auto it = want_pipes.find(name);
    const std::string& have_config_error = have.stream_down ? std::string() : have.error;
    const bool keep = it != want_pipes.end() && it->second.spec == have.spec &&
                      it->second.error == have_config_error;
    if (keep) continue;
    if (have.error.empty()) {
      if (auto st = m.supervisor->remove_pipeline(name); !st)
        report.errors.push_back(st.error().to_string());
    }
    m.results.clear_pipeline(name);
    m.latency.forget_pipeline(name);
    MutexLock lock(m.mu);
    m.pipelines.erase(name);
    if (it == want_pipes.end()) ++report.pipelines_removed;
  }
  // 2. Streams that go, after their pipelines; streams whose source changed get a new capture.
  for (const auto& [name, s] : current) {
    auto it = want_streams.find(name);
    if (it == want_streams.end()) {
      {
        MutexLock lock(m.mu);
        m.streams.erase(name);
      }
      m.stop_stream(*s);
      ++report.streams_removed;
    } else if (!same_source(s->config, it->second)) {
      m.replace_capture(*s, it->second);
      ++report.streams_changed;
    }
  }
  // 3. Streams that are new.
  for (const auto& [name, sc] : want_streams) {
    if (current.count(name)) continue;
    auto s = m.start_stream(sc);
    if (!s) {
      report.errors.push_back("stream '" + name + "': " + s.error().to_string());
      continue;
    }
    MutexLock lock(m.mu);
    m.streams.emplace(name, std::move(s.value()));
    ++report.streams_added;
  }
  // 4. Pipelines that are new or changed.
  for (auto& [name, w] : want_pipes) {
    {
      MutexLock lock(m.mu);
      if (m.pipelines.count(name)) continue;
    }
    const bool existed = current_pipes.count(name) > 0;
    std::shared_ptr<Stream> s = m.find(w.spec.stream);
    if (w.error.empty() && (!s || !s->current_capture())) {
      w.error = "stream '" + w.spec.stream +
                "' is not running: " + (s ? s->status().last_error : "not started");
      w.stream_down = true;
    }
    if (w.error.empty()) {
      if (auto st = m.supervisor->add_pipeline(w.spec, s->shm); !st)
        w.error = st.error().to_string();
    }
    if (!w.error.empty()) report.errors.push_back("pipeline '" + name + "': " + w.error);
    MutexLock lock(m.mu);
    m.pipelines.emplace(name, w);
    ++(existed ? report.pipelines_changed : report.pipelines_added);
  }
  // 5. Pipelines kept waiting for their stream, whose stream now runs (its url was fixed).
  std::vector<std::string> waiting;
  {
    MutexLock lock(m.mu);
    for (const auto& [name, w] : m.pipelines)
      if (w.stream_down) waiting.push_back(name);
  }
  for (const auto& name : waiting) {
    WantedPipeline w;
    {
      MutexLock lock(m.mu);
      w = m.pipelines.at(name);
    }
    std::shared_ptr<Stream> s = m.find(w.spec.stream);
    if (!s || !s->current_capture()) continue;
    w.stream_down = false;
    w.error.clear();
    if (auto st = m.supervisor->add_pipeline(w.spec, s->shm); !st) {
      w.error = st.error().to_string();
      report.errors.push_back("pipeline '" + name + "': " + w.error);
    }
    MutexLock lock(m.mu);
    m.pipelines[name] = w;
    ++report.pipelines_changed;
  }
  if (report.changed())
    spdlog::info("engine: applied: streams +{} ~{} -{}, pipelines +{} ~{} -{}, {} errors",
                 report.streams_added, report.streams_changed, report.streams_removed,
                 report.pipelines_added, report.pipelines_changed, report.pipelines_removed,
                 report.errors.size());
  return report;
}

void Engine::stop() {
  Impl& m = *impl_;
  MutexLock apply_lock(m.apply_mu);
  if (m.stopped) return;
  m.stopped = true;
  if (m.supervisor) m.supervisor->stop();  // workers: stop message, grace, SIGKILL, reaped
  std::map<std::string, std::shared_ptr<Stream>> streams;
  {
    MutexLock lock(m.mu);
    streams = m.streams;
  }
  for (auto& [name, s] : streams) {
    if (auto cap = s->current_capture()) cap->stop();
  }
  for (auto& [name, s] : streams) {
    if (s->compositor) s->compositor->stop();
    s->supplier->stop();
    if (s->bridge) s->bridge->stop();
  }
  if (m.server) m.server->stop();
  if (m.event_frames) m.event_frames->stop();
}

std::vector<std::string> Engine::stream_names() const {
  std::vector<std::string> out;
  MutexLock lock(impl_->mu);
  for (const auto& [name, s] : impl_->streams) out.push_back(name);
  return out;
}

std::vector<StreamReport> Engine::report() const {
  std::map<std::string, std::shared_ptr<Stream>> streams;
  {
    MutexLock lock(impl_->mu);
    streams = impl_->streams;
  }
  std::vector<StreamReport> out;
  for (const auto& [name, s] : streams) out.push_back(impl_->report_of(*s));
  return out;
}

std::optional<StreamReport> Engine::report(const std::string& stream) const {
  auto s = impl_->find(stream);
  if (!s) return std::nullopt;
  return impl_->report_of(*s);
}

std::vector<media::FrameLatency> Engine::latencies(const std::string& stream) const {
  auto s = impl_->find(stream);
  if (!s || !s->compositor) return {};
  return s->compositor->latencies();
}

std::optional<media::SnapshotPicture> Engine::snapshot(const std::string& stream) const {
  auto s = impl_->find(stream);
  if (!s || !s->compositor) return std::nullopt;
  return s->compositor->last_picture();
}

std::shared_ptr<media::StreamOutput> Engine::live_output(const std::string& stream) const {
  auto s = impl_->find(stream);
  return s ? s->output : nullptr;
}

std::optional<std::string> Engine::event_frame(const std::string& stream, uint64_t sequence) const {
  return impl_->event_frames ? impl_->event_frames->get(stream, sequence) : std::nullopt;
}

EventFramesStats Engine::event_frame_stats() const {
  return impl_->event_frames ? impl_->event_frames->stats() : EventFramesStats{};
}

FrameSupplier* Engine::supplier(const std::string& stream) {
  auto s = impl_->find(stream);
  return s ? s->supplier.get() : nullptr;
}

ResultStore& Engine::results() { return impl_->results; }

const LatencyBook& Engine::latency() const { return impl_->latency; }

std::vector<PipelineStats> Engine::pipelines() const {
  std::map<std::string, WantedPipeline> wanted;
  {
    MutexLock lock(impl_->mu);
    wanted = impl_->pipelines;
  }
  std::vector<PipelineStats> out;
  for (const auto& [name, w] : wanted) {
    if (w.error.empty() && impl_->supervisor) {
      if (auto st = impl_->supervisor->stats(name)) {
        out.push_back(std::move(*st));
        continue;
      }
    }
    // A pipeline that does not run: reported failed, with the reason.
    PipelineStats p;
    p.name = name;
    p.stream = w.spec.stream;
    p.sla = w.spec.sla;
    // Given to the supervisor and not in its snapshot yet (a namesake still stopping): starting.
    p.state = w.error.empty() ? PipelineState::kStarting : PipelineState::kFailed;
    p.motion_gate = w.spec.motion_gate.enabled;
    p.last_error = w.error;
    out.push_back(std::move(p));
  }
  return out;
}

int Engine::rtsp_port() const { return impl_->server ? impl_->server->port() : 0; }

std::string Engine::output_url(const std::string& stream) const {
  return impl_->server ? impl_->server->url(stream, impl_->options.public_host) : "";
}

}  // namespace orion::engine
