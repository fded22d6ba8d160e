#include "gpu/bench_gpu.h"

#if ORION_GPU_TORCH && ORION_GPU_NVDEC
#include <cuda_runtime_api.h>
#include <sys/resource.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <mutex>
#include <thread>

#include "core/clock.h"
#include "gpu/batch_collector.h"
#include "gpu/batch_detector.h"
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

struct DecodeCeiling {
  int streams = 0;
  double fps = 0;
  double cpu_per_stream = 0;  // cores
  std::string error;
};

DecodeCeiling decode_ceiling(const BenchGpuOptions& o, int device, int streams) {
  DecodeCeiling r;
  r.streams = streams;
  std::atomic<uint64_t> counted{0};
  std::atomic<bool> counting{false};
  std::vector<NvdecSourcePtr> srcs;
  for (int i = 0; i < streams; ++i) {
    NvdecOptions no;
    no.path = o.clip, no.device = device, no.realtime = false, no.loop = true;
    no.stream = static_cast<StreamId>(i + 1);
    auto s = NvdecSource::open(no, [&](FramePtr) {
      if (counting.load(std::memory_order_relaxed)) counted.fetch_add(1, std::memory_order_relaxed);
    });
    if (!s) {
      r.error = s.error().to_string();
      return r;
    }
    srcs.push_back(std::move(*s));
  }
  for (auto& s : srcs) {
    if (auto st = s->start(); !st) {
      r.error = st.error().to_string();
      return r;
    }
  }
  std::this_thread::sleep_for(std::chrono::duration<double>(std::min(o.settle, 2.0)));
  const double c0 = cpu_seconds(), t0 = now_s();
  counting = true;
  std::this_thread::sleep_for(std::chrono::duration<double>(o.decode_seconds));
  counting = false;
  const double t1 = now_s(), c1 = cpu_seconds();
  for (auto& s : srcs) {
    if (!s->error().empty()) r.error = s->error();
    s->stop();
  }
  r.fps = static_cast<double>(counted.load()) / (t1 - t0);
  r.cpu_per_stream = (c1 - c0) / (t1 - t0) / streams;
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
  uint64_t dropped = 0;
  std::string error;
};

RunResult run_streams(const BenchGpuOptions& o, int device, int n, BatchDetector& det,
                      size_t base_used) {
  RunResult r;
  r.streams = n;
  BatchCollector collector(n);
  std::vector<NvdecSourcePtr> srcs;
  for (int i = 0; i < n; ++i) {
    NvdecOptions no;
    no.path = o.clip, no.device = device, no.realtime = true, no.loop = true;
    no.stream = static_cast<StreamId>(i + 1);
    auto s =
        NvdecSource::open(no, [&collector, i](FramePtr f) { collector.submit(i, std::move(f)); });
    if (!s) {
      r.error = s.error().to_string();
      return r;
    }
    srcs.push_back(std::move(*s));
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
      auto batch = collector.collect(std::min(o.max_batch, n), wait);
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
  for (auto& s : srcs) {
    if (auto st = s->start(); !st) {
      r.error = st.error().to_string();
      break;
    }
  }
  std::vector<uint64_t> dec0(static_cast<size_t>(n));
  double t0 = 0, t1 = 0, c0 = 0, c1 = 0;
  size_t used = 0;
  if (r.error.empty()) {
    std::this_thread::sleep_for(std::chrono::duration<double>(o.settle));
    for (int i = 0; i < n; ++i)
      dec0[static_cast<size_t>(i)] = srcs[static_cast<size_t>(i)]->frames();
    const auto st0 = collector.stats();
    c0 = cpu_seconds(), t0 = now_s();
    measuring = true;
    std::this_thread::sleep_for(std::chrono::duration<double>(o.seconds));
    measuring = false;
    t1 = now_s(), c1 = cpu_seconds();
    used = gpu_used_bytes(device);
    r.dropped = collector.stats().dropped - st0.dropped;
  }
  uint64_t decoded = 0;
  for (int i = 0; i < n; ++i)
    decoded += srcs[static_cast<size_t>(i)]->frames() - dec0[static_cast<size_t>(i)];
  collector.stop();
  worker.join();
  for (auto& s : srcs) {
    if (r.error.empty() && !s->error().empty()) r.error = s->error();
    s->stop();
  }
  if (!worker_error.empty()) r.error = worker_error;
  if (!r.error.empty()) return r;
  const double dt = t1 - t0;
  r.decoded_fps = static_cast<double>(decoded) / dt;
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
  r.cpu_per_stream = (c1 - c0) / dt / n;
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
      o.half ? "FP16" : "FP32", o.cuda_graphs ? ", CUDA graphs" : "", dc.max_batch, o.max_wait_ms);
  std::printf("detector: warm-up (graph capture of %zu buckets) %.2f s, GPU memory %.0f MiB\n",
              batch_buckets(dc.max_batch).size(), warm_s,
              static_cast<double>(used_detector - std::min(used_detector, used_before)) /
                  (1024.0 * 1024.0));

  std::vector<int> counts = o.decode_streams;
  if (counts.empty()) counts.push_back(max_n);
  DecodeCeiling ceiling;
  for (int dn : counts) {
    if (dn < 1) return make_error("bench.bad_option", "--decode-streams needs counts >= 1");
    const DecodeCeiling c = decode_ceiling(o, dev->index, dn);
    if (!c.error.empty()) return make_error("media.pipeline", "decode-only ceiling: " + c.error);
    std::printf(
        "decode-only (NVDEC, %d decoders in this process, no pacing, %.0f s): %.0f fps total, "
        "CPU %.3f cores per decoder\n",
        dn, o.decode_seconds, c.fps, c.cpu_per_stream);
    if (c.fps > ceiling.fps) ceiling = c;
  }
  const int dn = ceiling.streams;
  std::printf("decode-only ceiling: %.0f fps (%d decoders)\n", ceiling.fps, dn);
  std::printf("%8s %6s %10s %10s %10s %8s %9s %9s %9s %7s %9s %9s %8s\n", "streams", "held",
              "decoded", "analysed", "vs_ceil", "min_fps", "age_p50", "age_p99", "age_p99", "batch",
              "fwd_ms", "MiB/strm", "CPU/strm");
  std::vector<RunResult> results;
  int best = 0;
  for (int n : o.streams) {
    RunResult r = run_streams(o, dev->index, n, **det, used_detector);
    if (!r.error.empty())
      return make_error("media.pipeline", std::to_string(n) + " streams: " + r.error);
    const double interval_ms = 1000.0 / o.fps;
    std::printf(
        "%8d %6d %10.1f %10.1f %10.3f %8.1f %7.1fms %7.1fms %7.2ffi %7.1f %9.2f %9.1f %8.3f\n", n,
        r.held, r.decoded_fps, r.analysed_fps, r.analysed_fps / ceiling.fps, r.min_stream_fps,
        r.age_p50_ms, r.age_p99_ms, r.age_p99_ms / interval_ms, r.batch_mean, r.forward_ms_mean,
        r.gpu_mib_per_stream, r.cpu_per_stream);
    std::fflush(stdout);
    if (r.held == n) best = std::max(best, n);
    results.push_back(r);
  }
  std::printf(
      "held = streams analysed at >= %.0f%% of %.0f fps; vs_ceil = analysed fps / decode-only "
      "ceiling; age = decode -> inference start (fi = frame intervals); MiB/strm = GPU memory "
      "above the loaded detector / streams; CPU/strm = process CPU cores / streams\n",
      o.held_ratio * 100, o.fps);
  std::printf("largest N held at real time: %d\n", best);
  if (!o.json_path.empty()) {
    std::ofstream js(o.json_path);
    js << "{\"ceiling_fps\": " << ceiling.fps << ", \"ceiling_streams\": " << dn << ", \"runs\": [";
    for (size_t i = 0; i < results.size(); ++i) {
      const auto& r = results[i];
      js << (i ? ", " : "") << "{\"streams\": " << r.streams << ", \"held\": " << r.held
         << ", \"decoded_fps\": " << r.decoded_fps << ", \"analysed_fps\": " << r.analysed_fps
         << ", \"age_p50_ms\": " << r.age_p50_ms << ", \"age_p99_ms\": " << r.age_p99_ms
         << ", \"batch_mean\": " << r.batch_mean
         << ", \"gpu_mib_per_stream\": " << r.gpu_mib_per_stream
         << ", \"cpu_per_stream\": " << r.cpu_per_stream << ", \"dropped\": " << r.dropped << "}";
    }
    js << "], \"largest_held\": " << best << "}\n";
  }
  return {};
}

#endif

}  // namespace orion::gpu
