// CUDA kernels of the GPU detector; see kernels.h for the contract.
#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include <cstdint>

#include "gpu/kernels.h"

namespace orion::gpu::kernels {
namespace {

constexpr int kMaxCapacity = 4096;  // NMS sorts one image's candidates in shared memory
constexpr int kNmsThreads = 1024;

std::string last_error() {
  const cudaError_t rc = cudaGetLastError();
  return rc == cudaSuccess ? std::string() : std::string(cudaGetErrorString(rc));
}

__device__ inline float clampf(float v, float lo, float hi) { return fminf(fmaxf(v, lo), hi); }

// Bilinear sample of channel c of a packed 3-byte image at (fx, fy) (pixel-centre coordinates).
__device__ inline void sample_packed(const uint8_t* p, int stride, int w, int h, float fx, float fy,
                                     float out[3]) {
  fx = clampf(fx, 0.f, static_cast<float>(w - 1));
  fy = clampf(fy, 0.f, static_cast<float>(h - 1));
  const int x0 = static_cast<int>(fx), y0 = static_cast<int>(fy);
  const int x1 = min(x0 + 1, w - 1), y1 = min(y0 + 1, h - 1);
  const float ax = fx - x0, ay = fy - y0;
  const uint8_t* r0 = p + static_cast<size_t>(y0) * stride;
  const uint8_t* r1 = p + static_cast<size_t>(y1) * stride;
  for (int c = 0; c < 3; ++c) {
    const float top = r0[x0 * 3 + c] * (1.f - ax) + r0[x1 * 3 + c] * ax;
    const float bot = r1[x0 * 3 + c] * (1.f - ax) + r1[x1 * 3 + c] * ax;
    out[c] = top * (1.f - ay) + bot * ay;
  }
}

__device__ inline float sample_plane(const uint8_t* p, int stride, int w, int h, int step, int off,
                                     float fx, float fy) {
  fx = clampf(fx, 0.f, static_cast<float>(w - 1));
  fy = clampf(fy, 0.f, static_cast<float>(h - 1));
  const int x0 = static_cast<int>(fx), y0 = static_cast<int>(fy);
  const int x1 = min(x0 + 1, w - 1), y1 = min(y0 + 1, h - 1);
  const float ax = fx - x0, ay = fy - y0;
  const uint8_t* r0 = p + static_cast<size_t>(y0) * stride;
  const uint8_t* r1 = p + static_cast<size_t>(y1) * stride;
  const float top = r0[x0 * step + off] * (1.f - ax) + r0[x1 * step + off] * ax;
  const float bot = r1[x0 * step + off] * (1.f - ax) + r1[x1 * step + off] * ax;
  return top * (1.f - ay) + bot * ay;
}

template <class T>
__device__ inline T to_out(float v);
template <>
__device__ inline float to_out<float>(float v) { return v; }
template <>
__device__ inline __half to_out<__half>(float v) { return __float2half(v); }

template <class T>
__global__ void preprocess_kernel(PreprocessJob job, PreprocessParams pp, T* dst) {
  const int x = blockIdx.x * blockDim.x + threadIdx.x;
  const int y = blockIdx.y * blockDim.y + threadIdx.y;
  if (x >= pp.dst_w || y >= pp.dst_h) return;
  float bgr[3] = {pp.pad, pp.pad, pp.pad};  // b, g, r
  const int rx = x - job.pad_left, ry = y - job.pad_top;
  if (rx >= 0 && ry >= 0 && rx < job.resized_w && ry < job.resized_h) {
    const float sx = static_cast<float>(job.src_w) / job.resized_w;
    const float sy = static_cast<float>(job.src_h) / job.resized_h;
    const float fx = (rx + 0.5f) * sx - 0.5f, fy = (ry + 0.5f) * sy - 0.5f;
    if (job.format == SrcFormat::kNV12) {
      const float yv = sample_plane(job.plane0, job.stride0, job.src_w, job.src_h, 1, 0, fx, fy);
      const int cw = (job.src_w + 1) / 2, ch = (job.src_h + 1) / 2;
      const float cx = (fx + 0.5f) * 0.5f - 0.5f, cy = (fy + 0.5f) * 0.5f - 0.5f;
      const float u = sample_plane(job.plane1, job.stride1, cw, ch, 2, 0, cx, cy) - 128.f;
      const float v = sample_plane(job.plane1, job.stride1, cw, ch, 2, 1, cx, cy) - 128.f;
      const float l = 1.164f * (yv - 16.f);
      bgr[2] = clampf(l + 1.596f * v, 0.f, 255.f);
      bgr[1] = clampf(l - 0.392f * u - 0.813f * v, 0.f, 255.f);
      bgr[0] = clampf(l + 2.017f * u, 0.f, 255.f);
    } else {
      float px[3];
      sample_packed(job.plane0, job.stride0, job.src_w, job.src_h, fx, fy, px);
      if (job.format == SrcFormat::kBGR24) {
        bgr[0] = px[0], bgr[1] = px[1], bgr[2] = px[2];
      } else {
        bgr[0] = px[2], bgr[1] = px[1], bgr[2] = px[0];
      }
    }
  }
  const size_t plane = static_cast<size_t>(pp.dst_w) * pp.dst_h;
  const size_t at = static_cast<size_t>(y) * pp.dst_w + x;
  for (int c = 0; c < 3; ++c) {
    const float v = pp.rgb ? bgr[2 - c] : bgr[c];
    dst[c * plane + at] = to_out<T>(v * pp.scale);
  }
}

__global__ void decode_kernel(const float* out, DecodeParams p, Candidate* cands, int* counts) {
  const int a = blockIdx.x * blockDim.x + threadIdx.x;
  const int b = blockIdx.y;
  if (a >= p.anchors) return;
  float score = -1.f, cx, cy, w, h;
  int best = -1;
  if (p.layout == Layout::kYolov8) {
    const float* base = out + static_cast<size_t>(b) * (4 + p.classes) * p.anchors + a;
    for (int c = 0; c < p.classes; ++c) {
      const float s = base[static_cast<size_t>(4 + c) * p.anchors];
      if (s > score) score = s, best = c;
    }
    cx = base[0];
    cy = base[static_cast<size_t>(p.anchors)];
    w = base[static_cast<size_t>(2) * p.anchors];
    h = base[static_cast<size_t>(3) * p.anchors];
  } else {
    const float* row = out + (static_cast<size_t>(b) * p.anchors + a) * (5 + p.classes);
    for (int c = 0; c < p.classes; ++c) {
      const float s = row[4] * row[5 + c];
      if (s > score) score = s, best = c;
    }
    // Which grid: strides 8, 16, 32, each row-major.
    int idx = a, stride = 8, gw = 0;
    for (int s = 8; s <= 32; s *= 2) {
      gw = p.input_w / s;
      const int n = gw * (p.input_h / s);
      stride = s;
      if (idx < n) break;
      idx -= n;
    }
    const float gx = static_cast<float>(idx % gw), gy = static_cast<float>(idx / gw);
    cx = (row[0] + gx) * stride;
    cy = (row[1] + gy) * stride;
    w = expf(row[2]) * stride;
    h = expf(row[3]) * stride;
  }
  if (best < 0 || score < p.score_threshold) return;
  if (p.class_mask != nullptr && p.class_mask[best] == 0) return;
  const int slot = atomicAdd(&counts[b], 1);
  if (slot >= p.capacity) return;
  Candidate& c = cands[static_cast<size_t>(b) * p.capacity + slot];
  c.x1 = cx - w * 0.5f;
  c.y1 = cy - h * 0.5f;
  c.x2 = cx + w * 0.5f;
  c.y2 = cy + h * 0.5f;
  c.score = score;
  c.class_id = best;
}

__device__ inline float iou(const Candidate& a, const Candidate& b) {
  const float ix = fmaxf(0.f, fminf(a.x2, b.x2) - fmaxf(a.x1, b.x1));
  const float iy = fmaxf(0.f, fminf(a.y2, b.y2) - fmaxf(a.y1, b.y1));
  const float inter = ix * iy;
  const float aa = fmaxf(0.f, a.x2 - a.x1) * fmaxf(0.f, a.y2 - a.y1);
  const float bb = fmaxf(0.f, b.x2 - b.x1) * fmaxf(0.f, b.y2 - b.y1);
  const float uni = aa + bb - inter;
  return uni > 0.f ? inter / uni : 0.f;
}

// One block per image. Sort key: (~score bits) << 32 | slot; scores are >= 0, so their IEEE
// bits order like the values; equal scores keep slot order.
__global__ void nms_kernel(const Candidate* cands, const int* counts, int capacity, float iou_thr,
                           int max_det, Candidate* kept, int* kept_counts) {
  __shared__ unsigned long long keys[kMaxCapacity];
  __shared__ unsigned char alive[kMaxCapacity];
  __shared__ int n_kept;
  const int b = blockIdx.x;
  const int n = min(counts[b], capacity);
  const Candidate* c = cands + static_cast<size_t>(b) * capacity;
  int pow2 = 1;
  while (pow2 < n) pow2 <<= 1;
  for (int i = threadIdx.x; i < pow2; i += blockDim.x) {
    if (i < n) {
      const unsigned int bits = __float_as_uint(fmaxf(c[i].score, 0.f));
      keys[i] = (static_cast<unsigned long long>(~bits) << 32) | static_cast<unsigned int>(i);
    } else {
      keys[i] = ~0ull;
    }
  }
  if (threadIdx.x == 0) n_kept = 0;
  __syncthreads();
  for (int k = 2; k <= pow2; k <<= 1) {  // bitonic sort, ascending keys
    for (int j = k >> 1; j > 0; j >>= 1) {
      for (int i = threadIdx.x; i < pow2; i += blockDim.x) {
        const int ixj = i ^ j;
        if (ixj > i) {
          const unsigned long long a = keys[i], bb = keys[ixj];
          const bool up = (i & k) == 0;
          if ((a > bb) == up) keys[i] = bb, keys[ixj] = a;
        }
      }
      __syncthreads();
    }
  }
  for (int i = threadIdx.x; i < n; i += blockDim.x) alive[i] = 1;
  __syncthreads();
  Candidate* out = kept + static_cast<size_t>(b) * max_det;
  for (int i = 0; i < n; ++i) {
    if (n_kept >= max_det) break;  // uniform: written before the last barrier
    if (!alive[i]) continue;       // uniform: alive[i] was settled before the last barrier
    const Candidate ci = c[keys[i] & 0xffffffffu];
    for (int j = i + 1 + threadIdx.x; j < n; j += blockDim.x) {
      if (!alive[j]) continue;
      const Candidate& cj = c[keys[j] & 0xffffffffu];
      if (cj.class_id == ci.class_id && iou(ci, cj) > iou_thr) alive[j] = 0;
    }
    __syncthreads();
    if (threadIdx.x == 0) out[n_kept++] = ci;
    __syncthreads();
  }
  if (threadIdx.x == 0) kept_counts[b] = n_kept;
}

}  // namespace

std::string preprocess(const PreprocessJob& job, const PreprocessParams& params, void* dst,
                       void* stream) {
  const dim3 block(32, 8);
  const dim3 grid((params.dst_w + block.x - 1) / block.x, (params.dst_h + block.y - 1) / block.y);
  auto s = static_cast<cudaStream_t>(stream);
  if (params.half) {
    preprocess_kernel<__half><<<grid, block, 0, s>>>(job, params, static_cast<__half*>(dst));
  } else {
    preprocess_kernel<float><<<grid, block, 0, s>>>(job, params, static_cast<float*>(dst));
  }
  return last_error();
}

std::string decode(const float* out, const DecodeParams& params, Candidate* candidates,
                   int* counts, void* stream) {
  auto s = static_cast<cudaStream_t>(stream);
  if (cudaMemsetAsync(counts, 0, sizeof(int) * params.batch, s) != cudaSuccess) return last_error();
  const dim3 block(256);
  const dim3 grid((params.anchors + 255) / 256, params.batch);
  decode_kernel<<<grid, block, 0, s>>>(out, params, candidates, counts);
  return last_error();
}

std::string nms(const Candidate* candidates, const int* counts, int batch, int capacity,
                float iou_threshold, int max_det, Candidate* kept, int* kept_counts, void* stream) {
  if (capacity > kMaxCapacity) return "nms: capacity above 4096";
  nms_kernel<<<batch, kNmsThreads, 0, static_cast<cudaStream_t>(stream)>>>(
      candidates, counts, capacity, iou_threshold, max_det, kept, kept_counts);
  return last_error();
}

}  // namespace orion::gpu::kernels
