// LibTorch backend of BatchDetector (built only when LibTorch and CUDA are found).
#include <ATen/cuda/CUDAEvent.h>
#include <ATen/cuda/CUDAGraph.h>
#include <c10/cuda/CUDAGuard.h>
#include <c10/cuda/CUDAStream.h>
#include <cuda_runtime_api.h>
#include <torch/script.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <map>

#include "gpu/batch_detector.h"
#include "gpu/device.h"
#include "gpu/kernels.h"
#include "gpu/letterbox.h"

namespace orion::gpu {
namespace {

constexpr int kCapacity = 4096;

struct Family {
  Align align;
  bool rgb;
  float scale;
  kernels::Layout layout;
  int default_size;
};

Result<Family> family_of(const std::string& kind) {
  if (kind == "yolov8")
    return Family{Align::kCenter, true, 1.0f / 255.0f, kernels::Layout::kYolov8, 640};
  if (kind == "yolox") return Family{Align::kTopLeft, false, 1.0f, kernels::Layout::kYolox, 416};
  return make_error("detector.unknown_kind",
                    "GPU detector kind '" + kind + "' is not one of: yolov8, yolox");
}

template <class T>
struct DeviceBuffer {
  T* ptr = nullptr;
  size_t count = 0;
  DeviceBuffer() = default;
  DeviceBuffer(const DeviceBuffer&) = delete;
  DeviceBuffer& operator=(const DeviceBuffer&) = delete;
  ~DeviceBuffer() {
    if (ptr) cudaFree(ptr);
  }
  bool reserve(size_t n) {
    if (n <= count) return true;
    if (ptr) cudaFree(ptr);
    ptr = nullptr;
    count = 0;
    if (cudaMalloc(reinterpret_cast<void**>(&ptr), n * sizeof(T)) != cudaSuccess) return false;
    count = n;
    return true;
  }
};

template <class T>
struct PinnedBuffer {
  T* ptr = nullptr;
  PinnedBuffer() = default;
  PinnedBuffer(const PinnedBuffer&) = delete;
  PinnedBuffer& operator=(const PinnedBuffer&) = delete;
  ~PinnedBuffer() {
    if (ptr) cudaFreeHost(ptr);
  }
  bool alloc(size_t n) {
    return cudaMallocHost(reinterpret_cast<void**>(&ptr), n * sizeof(T)) == cudaSuccess;
  }
};

class TorchDetector final : public BatchDetector {
 public:
  TorchDetector(BatchDetectorConfig config, Family family, int device)
      : config_(std::move(config)),
        family_(family),
        device_index_(device),
        device_(torch::kCUDA, static_cast<c10::DeviceIndex>(device)),
        stream_(c10::cuda::getStreamFromPool(/*isHighPriority=*/false,
                                             static_cast<c10::DeviceIndex>(device))) {}

  Status load() {
    try {
      c10::cuda::CUDAGuard guard(device_);
      c10::cuda::CUDAStreamGuard sguard(stream_);
      torch::NoGradGuard no_grad;
      module_ = torch::jit::load(config_.model_path, device_);
      module_.eval();
      if (config_.half) module_.to(torch::kHalf);
      if (nhwc()) {
        for (const at::Tensor& t : module_.parameters())
          if (t.dim() == 4) t.set_data(t.contiguous(at::MemoryFormat::ChannelsLast));
        for (const at::Tensor& t : module_.buffers())
          if (t.dim() == 4) t.set_data(t.contiguous(at::MemoryFormat::ChannelsLast));
      }
      size_ = config_.input_size > 0 ? config_.input_size : family_.default_size;
      buckets_ = batch_buckets(config_.max_batch);
      input_ = torch::zeros({buckets_.back(), 3, size_, size_},
                            torch::TensorOptions().device(device_).dtype(
                                config_.half ? torch::kHalf : torch::kFloat));
      auto out = run_network(1);
      stream_.synchronize();
      const auto s = out.sizes();
      const int64_t anchors = grid_anchors(size_);
      if (family_.layout == kernels::Layout::kYolov8) {
        if (s.size() != 3 || s[2] != anchors || s[1] <= 4)
          return shape_error(out, "[1, 4 + classes, anchors]", anchors);
        classes_ = static_cast<int>(s[1] - 4);
      } else {
        if (s.size() != 3 || s[1] != anchors || s[2] <= 5)
          return shape_error(out, "[1, anchors, 5 + classes]", anchors);
        classes_ = static_cast<int>(s[2] - 5);
      }
      anchors_ = static_cast<int>(anchors);
    } catch (const std::exception& e) {
      return make_error("model.load_failed", "cannot load TorchScript model '" +
                                                 config_.model_path + "' on " + device_string() +
                                                 ": " + e.what());
    }
    const size_t maxb = static_cast<size_t>(buckets_.back());
    if (!candidates_.reserve(maxb * kCapacity) || !counts_.reserve(maxb) ||
        !kept_.reserve(maxb * static_cast<size_t>(config_.max_detections)) ||
        !kept_counts_.reserve(maxb) ||
        !host_kept_.alloc(maxb * static_cast<size_t>(config_.max_detections)) ||
        !host_counts_.alloc(2 * maxb)) {
      return make_error("model.load_failed",
                        "cannot allocate the detector's buffers on " + device_string());
    }
    for (size_t i = 0; i < maxb; ++i) staging_.push_back(std::make_unique<DeviceBuffer<uint8_t>>());
    return {};
  }

  Status warm_up() override {
    try {
      c10::cuda::CUDAGuard guard(device_);
      c10::cuda::CUDAStreamGuard sguard(stream_);
      torch::NoGradGuard no_grad;
      for (int b : buckets_) run_network(b);
      stream_.synchronize();
    } catch (const std::exception& e) {
      return make_error("detector.inference_failed", std::string("warm-up failed: ") + e.what());
    }
    return {};
  }

  Result<std::vector<std::vector<Detection>>> detect_batch(
      std::span<const FramePtr> frames) override {
    const auto t0 = std::chrono::steady_clock::now();
    const int n = static_cast<int>(frames.size());
    if (n > buckets_.back()) {
      return make_error("detector.batch_too_large", "batch of " + std::to_string(n) +
                                                        " frames, the detector's max_batch is " +
                                                        std::to_string(buckets_.back()));
    }
    std::vector<std::vector<Detection>> result(static_cast<size_t>(n));
    if (n == 0) return result;
    const int bucket = *std::lower_bound(buckets_.begin(), buckets_.end(), n);
    std::vector<Letterbox> boxes(static_cast<size_t>(n));
    try {
      c10::cuda::CUDAGuard guard(device_);
      c10::cuda::CUDAStreamGuard sguard(stream_);
      torch::NoGradGuard no_grad;
      cudaStream_t s = stream_.stream();
      ev_[0].record(stream_);
      const size_t image = static_cast<size_t>(3) * size_ * size_;
      const size_t elem = config_.half ? 2 : 4;
      for (int i = 0; i < n; ++i) {
        const Frame& f = *frames[static_cast<size_t>(i)];
        auto job = make_job(f, static_cast<size_t>(i), s);
        if (!job) return job.error();
        boxes[static_cast<size_t>(i)] =
            make_letterbox(f.width(), f.height(), size_, size_, family_.align);
        const Letterbox& lb = boxes[static_cast<size_t>(i)];
        job->resized_w = lb.resized_w, job->resized_h = lb.resized_h;
        job->pad_left = lb.pad_left, job->pad_top = lb.pad_top;
        kernels::PreprocessParams pp{size_,         size_,  family_.rgb,
                                     family_.scale, 114.0f, config_.half};
        auto* dst =
            static_cast<uint8_t*>(input_.data_ptr()) + static_cast<size_t>(i) * image * elem;
        if (auto err = kernels::preprocess(*job, pp, dst, s); !err.empty())
          return kernel_error("preprocess", err);
      }
      ev_[1].record(stream_);
      torch::Tensor out = run_network(bucket);
      ev_[2].record(stream_);
      kernels::DecodeParams dp;
      dp.layout = family_.layout;
      dp.batch = n, dp.anchors = anchors_, dp.classes = classes_;
      dp.input_w = size_, dp.input_h = size_;
      dp.score_threshold = config_.score_threshold;
      dp.capacity = kCapacity;
      if (auto err = kernels::decode(out.data_ptr<float>(), dp, candidates_.ptr, counts_.ptr, s);
          !err.empty())
        return kernel_error("decode", err);
      if (auto err = kernels::nms(candidates_.ptr, counts_.ptr, n, kCapacity, config_.iou_threshold,
                                  config_.max_detections, kept_.ptr, kept_counts_.ptr, s);
          !err.empty())
        return kernel_error("nms", err);
      const size_t md = static_cast<size_t>(config_.max_detections);
      cudaMemcpyAsync(host_counts_.ptr, kept_counts_.ptr, sizeof(int) * static_cast<size_t>(n),
                      cudaMemcpyDeviceToHost, s);
      cudaMemcpyAsync(host_counts_.ptr + n, counts_.ptr, sizeof(int) * static_cast<size_t>(n),
                      cudaMemcpyDeviceToHost, s);
      cudaMemcpyAsync(host_kept_.ptr, kept_.ptr,
                      sizeof(kernels::Candidate) * md * static_cast<size_t>(n),
                      cudaMemcpyDeviceToHost, s);
      ev_[3].record(stream_);
      ev_[3].synchronize();
      if (const cudaError_t rc = cudaGetLastError(); rc != cudaSuccess)
        return kernel_error("copy", cudaGetErrorString(rc));
      for (int i = 0; i < n; ++i) {
        const int k = std::min(host_counts_.ptr[i], config_.max_detections);
        const int found = host_counts_.ptr[n + i];
        if (found > kCapacity) dropped_ += static_cast<uint64_t>(found - kCapacity);
        auto& dets = result[static_cast<size_t>(i)];
        dets.reserve(static_cast<size_t>(k));
        for (int j = 0; j < k; ++j) {
          const kernels::Candidate& c =
              host_kept_.ptr[static_cast<size_t>(i) * md + static_cast<size_t>(j)];
          Detection d;
          d.class_id = c.class_id;
          d.class_name = class_name(c.class_id);
          d.score = c.score;
          d.box = boxes[static_cast<size_t>(i)].to_source(Box{c.x1, c.y1, c.x2, c.y2});
          dets.push_back(std::move(d));
        }
      }
      timings_.batch = n;
      timings_.bucket = bucket;
      timings_.preprocess = Duration::seconds_f(ev_[0].elapsed_time(ev_[1]) / 1000.0);
      timings_.forward = Duration::seconds_f(ev_[1].elapsed_time(ev_[2]) / 1000.0);
      timings_.postprocess = Duration::seconds_f(ev_[2].elapsed_time(ev_[3]) / 1000.0);
    } catch (const std::exception& e) {
      return make_error("detector.inference_failed", std::string("LibTorch: ") + e.what());
    }
    timings_.total = Duration::from(std::chrono::steady_clock::now() - t0);
    return result;
  }

  BatchTimings last_timings() const override { return timings_; }
  uint64_t candidates_dropped() const override { return dropped_; }

 private:
  static int64_t grid_anchors(int size) {
    int64_t n = 0;
    for (int s : {8, 16, 32}) n += static_cast<int64_t>(size / s) * (size / s);
    return n;
  }

  std::string device_string() const { return "cuda:" + std::to_string(device_index_); }

  Status shape_error(const torch::Tensor& out, const char* want, int64_t anchors) const {
    std::string got = "[";
    for (size_t i = 0; i < out.sizes().size(); ++i)
      got += (i ? ", " : "") + std::to_string(out.sizes()[i]);
    got += "]";
    return make_error("model.output_shape", "model '" + config_.model_path + "' outputs " + got +
                                                ", kind " + config_.kind + " at input " +
                                                std::to_string(size_) + " needs " + want +
                                                " with " + std::to_string(anchors) + " anchors");
  }

  static Error kernel_error(const char* what, const std::string& err) {
    return make_error("detector.inference_failed", std::string("CUDA ") + what + ": " + err);
  }

  std::string class_name(int id) const {
    if (id >= 0 && static_cast<size_t>(id) < config_.class_names.size())
      return config_.class_names[static_cast<size_t>(id)];
    return "class_" + std::to_string(id);
  }

  // NHWC only with FP16: FP32 + NHWC found no reference box in the accuracy test on the H200
  // (2026-12-02; not investigated), FP16 + NHWC matched every one (docs/gpu.md).
  bool nhwc() const { return config_.channels_last && config_.half; }

  // The network on input_[0:bucket] -> FP32 output [bucket, ...]; graph replay when enabled
  // (captured on first use of the bucket, after one eager warm-up run).
  torch::Tensor run_network(int bucket) {
    torch::Tensor in = input_.narrow(0, 0, bucket);
    // The pre-processing kernel writes NCHW; one copy to NHWC (inside the graph) when asked.
    if (nhwc()) in = in.contiguous(at::MemoryFormat::ChannelsLast);
    if (!config_.cuda_graphs)
      return module_.forward({in}).toTensor().to(torch::kFloat).contiguous();
    auto it = graphs_.find(bucket);
    if (it == graphs_.end()) {
      for (int i = 0; i < 2; ++i) module_.forward({in});  // cuDNN picks its kernels before capture
      stream_.synchronize();
      Graph g;
      g.graph = std::make_unique<at::cuda::CUDAGraph>();
      if (pool_.first == 0 && pool_.second == 0) pool_ = at::cuda::graph_pool_handle();
      g.graph->capture_begin(pool_, cudaStreamCaptureModeThreadLocal);
      g.out = module_.forward({in}).toTensor().to(torch::kFloat).contiguous();
      g.graph->capture_end();
      it = graphs_.emplace(bucket, std::move(g)).first;
    }
    it->second.graph->replay();
    return it->second.out;
  }

  // Where the frame's pixels are on the device (uploading host frames into a staging buffer).
  Result<kernels::PreprocessJob> make_job(const Frame& f, size_t slot, cudaStream_t s) {
    auto unsupported = [&](const std::string& why) {
      return make_error("detector.unsupported_frame",
                        "frame " + std::to_string(f.identity().sequence) + " of stream " +
                            std::to_string(f.identity().stream) + ": " + why);
    };
    if (f.width() <= 0 || f.height() <= 0 || f.data() == nullptr) return unsupported("empty frame");
    kernels::PreprocessJob job;
    job.src_w = f.width();
    job.src_h = f.height();
    switch (f.format()) {
      case PixelFormat::kBGR24:
        job.format = kernels::SrcFormat::kBGR24;
        break;
      case PixelFormat::kRGB24:
        job.format = kernels::SrcFormat::kRGB24;
        break;
      case PixelFormat::kNV12:
        job.format = kernels::SrcFormat::kNV12;
        break;
      default:
        return unsupported("pixel format " + std::string(to_string(f.format())) +
                           " (GPU detector takes BGR24, RGB24, NV12)");
    }
    const uint8_t* base = f.data();
    if (f.memory_kind() == MemoryKind::kHost) {
      auto& buf = *staging_[slot];
      if (!buf.reserve(f.size()))
        return unsupported("cannot allocate " + std::to_string(f.size()) + " bytes on the device");
      if (cudaMemcpyAsync(buf.ptr, f.data(), f.size(), cudaMemcpyHostToDevice, s) != cudaSuccess)
        return unsupported(std::string("upload failed: ") + cudaGetErrorString(cudaGetLastError()));
      base = buf.ptr;
    }
    job.plane0 = base + f.layout().offsets[0];
    job.stride0 = f.stride(0);
    if (job.format == kernels::SrcFormat::kNV12) {
      job.plane1 = base + f.layout().offsets[1];
      job.stride1 = f.stride(1);
    }
    return job;
  }

  struct Graph {
    std::unique_ptr<at::cuda::CUDAGraph> graph;
    torch::Tensor out;
  };

  BatchDetectorConfig config_;
  Family family_;
  int device_index_;
  torch::Device device_;
  c10::cuda::CUDAStream stream_;
  torch::jit::Module module_;
  int size_ = 0, anchors_ = 0, classes_ = 0;
  std::vector<int> buckets_;
  torch::Tensor input_;
  std::map<int, Graph> graphs_;
  c10::cuda::MempoolId_t pool_{0, 0};
  DeviceBuffer<kernels::Candidate> candidates_, kept_;
  DeviceBuffer<int> counts_, kept_counts_;
  PinnedBuffer<kernels::Candidate> host_kept_;
  PinnedBuffer<int> host_counts_;
  std::vector<std::unique_ptr<DeviceBuffer<uint8_t>>> staging_;
  at::cuda::CUDAEvent ev_[4] = {
      at::cuda::CUDAEvent(cudaEventDefault), at::cuda::CUDAEvent(cudaEventDefault),
      at::cuda::CUDAEvent(cudaEventDefault), at::cuda::CUDAEvent(cudaEventDefault)};
  BatchTimings timings_;
  uint64_t dropped_ = 0;
};

}  // namespace

Result<BatchDetectorPtr> create_batch_detector(const BatchDetectorConfig& config) {
  auto fam = family_of(config.kind);
  if (!fam) return fam.error();
  auto dev = resolve_device(config.device);
  if (!dev) return dev.error();
  if (config.max_batch < 1 || config.max_batch > 1024) {
    return make_error("detector.bad_config",
                      "max_batch " + std::to_string(config.max_batch) + " is not in 1..1024");
  }
  if (config.max_detections < 1)
    return make_error("detector.bad_config", "max_detections must be >= 1");
  std::error_code ec;
  if (!std::filesystem::is_regular_file(config.model_path, ec)) {
    return make_error("model.not_found", "model file '" + config.model_path + "' not found");
  }
  auto det = std::make_unique<TorchDetector>(config, *fam, dev->index);
  if (auto st = det->load(); !st) return st.error();
  return BatchDetectorPtr(std::move(det));
}

}  // namespace orion::gpu
