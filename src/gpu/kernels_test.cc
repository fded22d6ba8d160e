// The GPU kernels on synthetic inputs, checked on the host. Needs a CUDA device: skips with a
// message where there is none (CI, the development VM).
#include "gpu/kernels.h"

#include <cuda_fp16.h>
#include <cuda_runtime.h>
#include <gtest/gtest.h>

#include <cmath>
#include <vector>

#include "gpu/letterbox.h"

namespace orion::gpu::kernels {
namespace {

#define REQUIRE_GPU()                                                               \
  do {                                                                              \
    int n_ = 0;                                                                     \
    if (cudaGetDeviceCount(&n_) != cudaSuccess || n_ == 0) {                        \
      GTEST_SKIP() << "no CUDA device: " << cudaGetErrorString(cudaGetLastError()); \
    }                                                                               \
  } while (0)

template <class T>
T* dev(size_t n) {
  void* p = nullptr;
  EXPECT_EQ(cudaMalloc(&p, n * sizeof(T)), cudaSuccess);
  return static_cast<T*>(p);
}

TEST(GpuKernelsTest, PreprocessCopiesAnUnscaledImageAndPadsWith114) {
  REQUIRE_GPU();
  const int w = 8, h = 4, dst = 8;  // letterbox centre: 8×4 in 8×8, 2 rows of padding each side
  std::vector<uint8_t> bgr(static_cast<size_t>(w * h * 3));
  for (size_t i = 0; i < bgr.size(); ++i) bgr[i] = static_cast<uint8_t>(i);
  auto* src = dev<uint8_t>(bgr.size());
  cudaMemcpy(src, bgr.data(), bgr.size(), cudaMemcpyHostToDevice);
  const Letterbox lb = make_letterbox(w, h, dst, dst, Align::kCenter);
  ASSERT_EQ(lb.resized_w, 8);
  ASSERT_EQ(lb.pad_top, 2);
  PreprocessJob job{src, nullptr,      w * 3,        0,           SrcFormat::kBGR24, w,
                    h,   lb.resized_w, lb.resized_h, lb.pad_left, lb.pad_top};
  PreprocessParams pp{dst, dst, /*rgb=*/true, /*scale=*/1.0f, 114.0f, /*half=*/false};
  auto* out = dev<float>(3 * dst * dst);
  ASSERT_EQ(preprocess(job, pp, out, nullptr), "");
  std::vector<float> host(3 * dst * dst);
  ASSERT_EQ(cudaMemcpy(host.data(), out, host.size() * 4, cudaMemcpyDeviceToHost), cudaSuccess);
  for (int c = 0; c < 3; ++c) {
    for (int y = 0; y < dst; ++y) {
      for (int x = 0; x < dst; ++x) {
        const float got = host[static_cast<size_t>((c * dst + y) * dst + x)];
        const int sy = y - 2;
        const float want =
            (sy < 0 || sy >= h)
                ? 114.f
                : static_cast<float>(bgr[static_cast<size_t>((sy * w + x) * 3 + (2 - c))]);
        ASSERT_FLOAT_EQ(got, want) << "c " << c << " y " << y << " x " << x;
      }
    }
  }
  cudaFree(src);
  cudaFree(out);
}

TEST(GpuKernelsTest, DecodeAndNmsKeepTheBestBoxPerClassAndOverlap) {
  REQUIRE_GPU();
  // YOLOv8 layout, 2 classes, 4 anchors: two overlapping class-0 boxes (0.9, 0.8), one class-1
  // box on top of them (0.7, kept: other class), one below threshold.
  const int anchors = 4, classes = 2, attrs = 4 + classes;
  std::vector<float> out(static_cast<size_t>(attrs * anchors), 0.f);
  auto set = [&](int a, float cx, float cy, float w, float h, int cls, float s) {
    out[0 * anchors + a] = cx, out[1 * anchors + a] = cy, out[2 * anchors + a] = w,
                      out[3 * anchors + a] = h,
                      out[static_cast<size_t>((4 + cls) * anchors + a)] = s;
  };
  set(0, 50, 50, 20, 20, 0, 0.8f);
  set(1, 51, 50, 20, 20, 0, 0.9f);
  set(2, 50, 50, 20, 20, 1, 0.7f);
  set(3, 10, 10, 5, 5, 0, 0.1f);
  auto* d_out = dev<float>(out.size());
  cudaMemcpy(d_out, out.data(), out.size() * 4, cudaMemcpyHostToDevice);
  const int cap = 16, max_det = 8;
  auto* cands = dev<Candidate>(cap);
  auto* counts = dev<int>(1);
  auto* kept = dev<Candidate>(max_det);
  auto* kept_n = dev<int>(1);
  DecodeParams p;
  p.layout = Layout::kYolov8;
  p.batch = 1, p.anchors = anchors, p.classes = classes, p.capacity = cap;
  ASSERT_EQ(decode(d_out, p, cands, counts, nullptr), "");
  ASSERT_EQ(nms(cands, counts, 1, cap, 0.45f, max_det, kept, kept_n, nullptr), "");
  int n = 0, nc = 0;
  cudaMemcpy(&nc, counts, 4, cudaMemcpyDeviceToHost);
  cudaMemcpy(&n, kept_n, 4, cudaMemcpyDeviceToHost);
  EXPECT_EQ(nc, 3);
  ASSERT_EQ(n, 2);
  Candidate k[2];
  cudaMemcpy(k, kept, sizeof(k), cudaMemcpyDeviceToHost);
  EXPECT_FLOAT_EQ(k[0].score, 0.9f);
  EXPECT_EQ(k[0].class_id, 0);
  EXPECT_FLOAT_EQ(k[0].x1, 41.f);
  EXPECT_FLOAT_EQ(k[1].score, 0.7f);
  EXPECT_EQ(k[1].class_id, 1);
  for (void* q : {static_cast<void*>(d_out), static_cast<void*>(cands), static_cast<void*>(counts),
                  static_cast<void*>(kept), static_cast<void*>(kept_n)}) {
    cudaFree(q);
  }
}

}  // namespace
}  // namespace orion::gpu::kernels
