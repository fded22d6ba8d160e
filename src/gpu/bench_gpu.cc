#include "gpu/bench_gpu.h"

#if ORION_GPU_TORCH && ORION_GPU_NVDEC
#include <cuda_runtime_api.h>
#include <sys/resource.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <functional>
#include <memory>
#include <mutex>
#include <thread>

#include "core/clock.h"
#include "gpu/batch_collector.h"
#include "gpu/batch_detector.h"
#include "gpu/decode_procs.h"
#include "gpu/device.h"
#include "gpu/nvdec_source.h"
#endif

namespace orion::gpu {

#if !(ORION_GPU_TORCH && ORION_GPU_NVDEC)

Status run_bench_gpu(const BenchGpuOptions&) {
  return make_error("gpu.unavailable",
                    "orion bench gpu needs a build with CUDA, LibTorch and NVDEC (GStreamer's CUDA "
                    "library); this one has cuda=" +
                        std::to_string(ORION_GPU_CUDA) +
                        " torch=" + std::to_string(ORION_GPU_TORCH) +
                        " nvdec=" + std::to_string(ORION_GPU_NVDEC) + " (docs/gpu.md)");
}

#else

namespace {

double cpu_seconds() {
  rusage ru{};
  getrusage(RUSAGE_SELF, &ru);
  return static_cast<double>(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
         static_cast<double>(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
}

double now_s() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

size_t gpu_used_bytes(int device) {
  cudaSetDevice(device);
  size_t free_b = 0, total_b = 0;
  if (cudaMemGetInfo(&free_b, &total_b) != cudaSuccess) return 0;
  return total_b - free_b;
}

double percentile(std::vector<double> v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  const size_t i =
      std::min(v.size() - 1, static_cast<size_t>(p * static_cast<double>(v.size() - 1) + 0.5));
  return v[i];
}

// The decoders of one measurement: NvdecSources in this process, or DecodeProcs (child
// processes feeding this one through device slots). on_frame(stream index, frame).
struct FeedSnapshot {
  uint64_t frames = 0;   // decoded so far, every decoder
  double child_cpu = 0;  // CPU seconds of the child processes (0 in process)
  std::string error;     // the first decoder / transport error, or empty
};

class Feed {
 public:
  using OnFrame = std::function<void(int, FramePtr)>;

  static Result<std::unique_ptr<Feed> > open(const BenchGpuOptions& o, int device, int n,
                                             bool realtime, bool decode_only, OnFrame on_frame) {
    auto f = std::unique_ptr<Feed>(new Feed);
    if (o.decode_procs > 0) {
      DecodeProcsOptions po;
      po.clip = o.clip;
      po.device = device;
      po.streams = n;
      po.procs = std::min(o.decode_procs, n);
      po.decode_only = decode_only;
      po.realtime = realtime;
      po.pace_input = o.pace_input;
      po.decode_ahead = o.decode_ahead;
      po.slots = o.slots;
      auto p = DecodeProcs::spawn(po, decode_only ? DecodeProcs::OnFrame() : std::move(on_frame));
      if (!p.ok()) return p.error();
      f->procs_ = std::move(p).value();
      return f;
    }
    if (o.one_pipeline) {
      NvdecOptions no;
      no.path = o.clip, no.device = device, no.realtime = realtime, no.loop = true;
      no.pace_input = o.pace_input;
      no.decode_ahead = o.decode_ahead;
      no.stream = 1;
      no.branches = n;
      no.gstreamer_context = decode_only && o.ceiling_gstreamer_context;
      no.count_only = decode_only && o.ceiling_count_only;
      NvdecSource::OnFrame cb = [](FramePtr) {};
      if (!decode_only) {
        cb = [on_frame](FramePtr fr) {
          const int i = static_cast<int>(fr->identity().stream) - 1;
          on_frame(i, std::move(fr));
        };
      }
      auto s = NvdecSource::open(no, std::move(cb));
      if (!s.ok()) return s.error();
      f->srcs_.push_back(std::move(s).value());
      return f;
    }
    for (int i = 0; i < n; ++i) {
      NvdecOptions no;
      no.path = o.clip, no.device = device, no.realtime = realtime, no.loop = true;
      no.pace_input = o.pace_input;
      no.decode_ahead = o.decode_ahead;
      no.stream = static_cast<StreamId>(i + 1);
      no.gstreamer_context = decode_only && o.ceiling_gstreamer_context;
      no.count_only = decode_only && o.ceiling_count_only;
      NvdecSource::OnFrame cb = [](FramePtr) {};
      if (!decode_only) cb = [on_frame, i](FramePtr fr) { on_frame(i, std::move(fr)); };
      auto s = NvdecSource::open(no, std::move(cb));
      if (!s.ok()) return s.error();
      f->srcs_.push_back(std::move(s).value());
    }
    return f;
  }

  ~Feed() {
    stop_feeding();
    stop();
  }

  Status start() {
    if (procs_) return procs_->start();
    for (auto& s : srcs_)
      if (auto st = s->start(); !st) return st;
    return {};
  }

  FeedSnapshot snapshot() {
    FeedSnapshot r;
    if (procs_) {
      auto c = procs_->counts();
      if (!c.ok()) {
        r.error = c.error().to_string();
        return r;
      }
      r.frames = c->frames;
      r.child_cpu = c->cpu_seconds;
      if (c->errors > 0 || c->invalid > 0)
        r.error = std::to_string(c->errors) + " copy/publish errors, " +
                  std::to_string(c->invalid) + " frames refused: " + c->first_error;
      else if (!c->first_error.empty())
        r.error = c->first_error;
      return r;
    }
    for (auto& s : srcs_) {
      r.frames += s->frames();
      if (r.error.empty() && !s->error().empty()) r.error = s->error();
    }
    return r;
  }

  // No more on_frame calls after it; frames handed out stay valid.
  void stop_feeding() {
    if (procs_) {
      procs_->stop_readers();
    } else {
      for (auto& s : srcs_) s->stop();
    }
  }
  // After the consumer dropped every frame it was given.
  void stop() {
    if (procs_) procs_->stop();
    srcs_.clear();
  }

 private:
  Feed() = default;
  std::vector<NvdecSourcePtr> srcs_;
  std::unique_ptr<DecodeProcs> procs_;
};

struct DecodeCeiling {
  int streams = 0;
  double fps = 0;
  double cpu_per_stream = 0;  // cores
  std::string error;
};

DecodeCeiling decode_ceiling(const BenchGpuOptions& o, int device, int streams) {
  DecodeCeiling r;
  r.streams = streams;
  auto feed = Feed::open(o, device, streams, /*realtime=*/false, /*decode_only=*/true, nullptr);
  if (!feed.ok()) {
    r.error = feed.error().to_string();
    return r;
  }
  if (auto st = (*feed)->start(); !st) {
    r.error = st.error().to_string();
    return r;
  }
  std::this_thread::sleep_for(std::chrono::duration<double>(std::min(o.settle, 2.0)));
  const FeedSnapshot s0 = (*feed)->snapshot();
  const double c0 = cpu_seconds(), t0 = now_s();
  std::this_thread::sleep_for(std::chrono::duration<double>(o.decode_seconds));
  const FeedSnapshot s1 = (*feed)->snapshot();
  const double t1 = now_s(), c1 = cpu_seconds();
  r.error = !s1.error.empty() ? s1.error : s0.error;
  (*feed)->stop_feeding();
  (*feed)->stop();
  r.fps = static_cast<double>(s1.frames - std::min(s1.frames, s0.frames)) / (t1 - t0);
  r.cpu_per_stream = (c1 - c0 + s1.child_cpu - s0.child_cpu) / (t1 - t0) / streams;
  return r;
}

struct RunResult {
  int streams = 0;
  int held = 0;
  double decoded_fps = 0, analysed_fps = 0;
  double min_stream_fps = 0;
  double age_p50_ms = 0, age_p99_ms = 0;
  double batch_mean = 0;
  double forward_ms_mean = 0;
  double gpu_mib_total = 0, gpu_mib_per_stream = 0;
  double cpu_per_stream = 0;
  double same_n_fps = 0;  // decode-only fps with the same number of decoders (0: not measured)
  uint64_t dropped = 0;
  std::string error;
};

RunResult run_streams(const BenchGpuOptions& o, int device, int n, BatchDetector& det,
                      size_t base_used) {
  RunResult r;
  r.streams = n;
  auto collector = std::make_unique<BatchCollector>(n);
  BatchCollector* coll = collector.get();
  auto feed = Feed::open(o, device, n, /*realtime=*/true, /*decode_only=*/false,
                         [coll](int i, FramePtr f) { coll->submit(i, std::move(f)); });
  if (!feed.ok()) {
    r.error = feed.error().to_string();
    return r;
  }
  std::atomic<bool> measuring{false};
  std::mutex mu;  // guards the measurement vectors (written by the worker, read after join)
  std::vector<double> ages_ms;
  std::vector<uint64_t> analysed(static_cast<size_t>(n), 0);
  uint64_t batches = 0, batch_frames = 0;
  double forward_ms = 0;
  std::string worker_error;
  std::thread worker([&] {
    const Duration wait = Duration::seconds_f(o.max_wait_ms / 1000.0);
    for (;;) {
      auto batch = coll->collect(std::min(o.max_batch, n), wait);
      if (batch.empty()) return;
      const Timestamp start = SteadyClock::instance().now();
      std::vector<FramePtr> frames;
      frames.reserve(batch.size());
      for (auto& it : batch) frames.push_back(it.frame);
      auto res = det.detect_batch(frames);
      if (!res) {
        std::lock_guard lock(mu);
        worker_error = res.error().to_string();
        return;
      }
      if (measuring.load(std::memory_order_relaxed)) {
        std::lock_guard lock(mu);
        for (auto& it : batch) {
          ages_ms.push_back((start - it.frame->identity().capture_time).as_millis());
          ++analysed[static_cast<size_t>(it.stream)];
        }
        ++batches;
        batch_frames += batch.size();
        forward_ms += det.last_timings().forward.as_millis();
      }
    }
  });
  if (auto st = (*feed)->start(); !st) r.error = st.error().to_string();
  FeedSnapshot s0, s1;
  double t0 = 0, t1 = 0, c0 = 0, c1 = 0;
  size_t used = 0;
  if (r.error.empty()) {
    std::this_thread::sleep_for(std::chrono::duration<double>(o.settle));
    s0 = (*feed)->snapshot();
    const auto st0 = coll->stats();
    c0 = cpu_seconds(), t0 = now_s();
    measuring = true;
    std::this_thread::sleep_for(std::chrono::duration<double>(o.seconds));
    measuring = false;
    t1 = now_s(), c1 = cpu_seconds();
    s1 = (*feed)->snapshot();
    used = gpu_used_bytes(device);
    r.dropped = coll->stats().dropped - st0.dropped;
    if (!s1.error.empty()) r.error = s1.error;
  }
  // Teardown order: no more frames in, the worker done, every frame dropped, then the decoders
  // (child processes free their device slots only once this process holds none of them).
  (*feed)->stop_feeding();
  coll->stop();
  worker.join();
  collector.reset();
  (*feed)->stop();
  if (!worker_error.empty()) r.error = worker_error;
  if (!r.error.empty()) return r;
  const double dt = t1 - t0;
  r.decoded_fps = static_cast<double>(s1.frames - std::min(s1.frames, s0.frames)) / dt;
  uint64_t total = 0;
  r.min_stream_fps = 1e9;
  for (int i = 0; i < n; ++i) {
    const double f = static_cast<double>(analysed[static_cast<size_t>(i)]) / dt;
    total += analysed[static_cast<size_t>(i)];
    r.min_stream_fps = std::min(r.min_stream_fps, f);
    if (f >= o.held_ratio * o.fps) ++r.held;
  }
  r.analysed_fps = static_cast<double>(total) / dt;
  r.age_p50_ms = percentile(ages_ms, 0.50);
  r.age_p99_ms = percentile(ages_ms, 0.99);
  r.batch_mean = batches ? static_cast<double>(batch_frames) / static_cast<double>(batches) : 0;
  r.forward_ms_mean = batches ? forward_ms / static_cast<double>(batches) : 0;
  r.gpu_mib_total = static_cast<double>(used) / (1024.0 * 1024.0);
  r.gpu_mib_per_stream =
      used > base_used ? static_cast<double>(used - base_used) / (1024.0 * 1024.0) / n : 0;
  r.cpu_per_stream = (c1 - c0 + s1.child_cpu - s0.child_cpu) / dt / n;
  return r;
}

}  // namespace

Status run_bench_gpu(const BenchGpuOptions& o) {
  if (o.streams.empty() || *std::min_element(o.streams.begin(), o.streams.end()) < 1) {
    return make_error("bench.bad_option", "--streams needs one or more counts >= 1");
  }
  if (o.seconds <= 0 || o.decode_seconds <= 0 || o.fps <= 0) {
    return make_error("bench.bad_option", "--seconds, --decode-seconds and --fps must be > 0");
  }
  if (o.decode_procs < 0 || o.slots < 3) {
    return make_error("bench.bad_option",
                      "--decode-procs must be >= 0 and --slots >= 3 (written, offered, leased)");
  }
  auto dev = resolve_device(o.device);
  if (!dev) return dev.error();
  const int max_n = *std::max_element(o.streams.begin(), o.streams.end());

  BatchDetectorConfig dc;
  dc.kind = o.model_kind;
  dc.model_path = o.model_path;
  dc.device = o.device;
  dc.max_batch = std::min(o.max_batch, max_n);
  dc.half = o.half;
  dc.cuda_graphs = o.cuda_graphs;
  dc.channels_last = o.channels_last;
  // The decode-only ceilings of --decode-streams; the best is the run's ceiling.
  auto measure_ceilings = [&]() -> Result<DecodeCeiling> {
    std::vector<int> counts = o.decode_streams;
    if (counts.empty()) counts.push_back(max_n);
    DecodeCeiling best;
    for (int dn : counts) {
      if (dn < 1) return make_error("bench.bad_option", "--decode-streams needs counts >= 1");
      const DecodeCeiling c = decode_ceiling(o, dev->index, dn);
      if (!c.error.empty()) return make_error("media.pipeline", "decode-only ceiling: " + c.error);
      const std::string where = o.decode_procs > 0
                                    ? std::to_string(std::min(o.decode_procs, dn)) + " processes"
                                    : std::string("this process");
      std::printf(
          "decode-only (NVDEC, %d decoders in %s, no pacing, %.0f s%s%s%s): %.0f fps total, "
          "CPU %.3f cores per decoder\n",
          dn, where.c_str(), o.decode_seconds, o.ceilings_first ? ", before the detector" : "",
          o.ceiling_count_only ? ", unmapped" : "",
          o.ceiling_gstreamer_context ? ", GStreamer's context" : "", c.fps, c.cpu_per_stream);
      std::fflush(stdout);
      if (c.fps > best.fps) best = c;
    }
    return best;
  };
  DecodeCeiling ceiling;
  if (o.ceilings_first) {
    auto c = measure_ceilings();
    if (!c) return c.error();
    ceiling = *c;
  }
  const size_t used_before = gpu_used_bytes(dev->index);
  auto det = create_batch_detector(dc);
  if (!det) return det.error();
  const double w0 = now_s();
  if (auto st = (*det)->warm_up(); !st) return st;
  const double warm_s = now_s() - w0;
  const size_t used_detector = gpu_used_bytes(dev->index);

  std::printf(
      "orion bench gpu: clip %s, model %s:%s on %s (%s%s), max batch %d, max wait %.1f ms\n",
      o.clip.c_str(), o.model_kind.c_str(), o.model_path.c_str(), o.device.c_str(),
      o.half ? "FP16" : "FP32",
      (std::string(o.cuda_graphs ? ", CUDA graphs" : "") + (o.channels_last ? ", NHWC" : ""))
          .c_str(),
      dc.max_batch, o.max_wait_ms);
  if (o.decode_procs > 0)
    std::printf(
        "decoders: in %d child processes, frames through %u device slots per stream (CUDA IPC)\n",
        o.decode_procs, o.slots);
  else
    std::printf("decoders: in this process, %s\n",
                o.one_pipeline ? "one pipeline for all streams" : "a pipeline per stream");
  std::printf("real time kept at the decoder's %s",
              o.pace_input ? "input (a camera's pace)" : "output (appsink sync)");
  if (!o.pace_input && o.decode_ahead > 0)
    std::printf(", up to %d decoded pictures ahead per decoder", o.decode_ahead);
  std::printf("\n");
  std::printf("detector: warm-up (graph capture of %zu buckets) %.2f s, GPU memory %.0f MiB\n",
              batch_buckets(dc.max_batch).size(), warm_s,
              static_cast<double>(used_detector - std::min(used_detector, used_before)) /
                  (1024.0 * 1024.0));

  if (!o.ceilings_first) {
    auto c = measure_ceilings();
    if (!c) return c.error();
    ceiling = *c;
  }
  const int dn = ceiling.streams;
  std::printf("decode-only ceiling: %.0f fps (%d decoders)\n", ceiling.fps, dn);
  std::printf("%8s %6s %10s %10s %10s %10s %10s %8s %9s %9s %9s %7s %9s %9s %8s\n", "streams",
              "held", "decoded", "analysed", "vs_ceil", "same_n", "vs_same_n", "min_fps", "age_p50",
              "age_p99", "age_p99", "batch", "fwd_ms", "MiB/strm", "CPU/strm");
  std::vector<RunResult> results;
  int best = 0;
  for (int n : o.streams) {
    RunResult r = run_streams(o, dev->index, n, **det, used_detector);
    if (!r.error.empty())
      return make_error("media.pipeline", std::to_string(n) + " streams: " + r.error);
    if (o.ceiling_per_n) {
      const DecodeCeiling c = decode_ceiling(o, dev->index, n);
      if (!c.error.empty())
        return make_error("media.pipeline", "decode-only, " + std::to_string(n) + ": " + c.error);
      r.same_n_fps = c.fps;
    }
    const double interval_ms = 1000.0 / o.fps;
    const double vs_same = r.same_n_fps > 0 ? r.analysed_fps / r.same_n_fps : 0;
    std::printf(
        "%8d %6d %10.1f %10.1f %10.3f %10.1f %10.3f %8.1f %7.1fms %7.1fms %7.2ffi %7.1f %9.2f "
        "%9.1f %8.3f\n",
        n, r.held, r.decoded_fps, r.analysed_fps, r.analysed_fps / ceiling.fps, r.same_n_fps,
        vs_same, r.min_stream_fps, r.age_p50_ms, r.age_p99_ms, r.age_p99_ms / interval_ms,
        r.batch_mean, r.forward_ms_mean, r.gpu_mib_per_stream, r.cpu_per_stream);
    std::fflush(stdout);
    if (r.held == n) best = std::max(best, n);
    results.push_back(r);
  }
  std::printf(
      "held = streams analysed at >= %.0f%% of %.0f fps; vs_ceil = analysed fps / decode-only "
      "ceiling; same_n = decode-only fps of exactly that many decoders (unpaced), vs_same_n = "
      "analysed / same_n; age = decode -> inference start (fi = frame intervals); MiB/strm = GPU "
      "memory "
      "above the loaded detector / streams; CPU/strm = process CPU cores / streams\n",
      o.held_ratio * 100, o.fps);
  std::printf("largest N held at real time: %d\n", best);
  if (!o.json_path.empty()) {
    std::ofstream js(o.json_path);
    js << "{\"decode_procs\": " << o.decode_procs << ", \"ceiling_fps\": " << ceiling.fps
       << ", \"ceiling_streams\": " << dn << ", \"runs\": [";
    for (size_t i = 0; i < results.size(); ++i) {
      const auto& r = results[i];
      js << (i ? ", " : "") << "{\"streams\": " << r.streams << ", \"held\": " << r.held
         << ", \"decoded_fps\": " << r.decoded_fps << ", \"analysed_fps\": " << r.analysed_fps
         << ", \"same_n_decode_fps\": " << r.same_n_fps << ", \"age_p50_ms\": " << r.age_p50_ms
         << ", \"age_p99_ms\": " << r.age_p99_ms << ", \"batch_mean\": " << r.batch_mean
         << ", \"gpu_mib_per_stream\": " << r.gpu_mib_per_stream
         << ", \"cpu_per_stream\": " << r.cpu_per_stream << ", \"dropped\": " << r.dropped << "}";
    }
    js << "], \"largest_held\": " << best << "}\n";
  }
  return {};
}

#endif

}  // namespace orion::gpu
