// The LibTorch GPU detector against the CPU backend's reference detections (MANIFEST.md
// "Verification", OpenCV 4.6 on the CPU): every reference box needs a detection of the same
// class with IoU >= 0.9, for yolov8n and yolox_nano, FP16 and FP32, host RGB frames batched
// together and device NV12 frames. Needs a GPU and the TorchScript files that
// tools/gpu/onnx_to_torch.py makes (yolov8n.pt, yolox_nano.pt) and the images as PPM
// (bus.ppm, zidane.ppm) beside the assets (tools/gpu/run.sh makes them); skips otherwise.
#include <cuda_runtime_api.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdio>
#include <fstream>
#include <string>
#include <vector>

#include "gpu/batch_detector.h"
#include "gpu/device.h"
#include "testing/assets.h"

namespace orion::gpu {
namespace {

struct Ref {
  int class_id;
  float score;
  Box box;
};

// MANIFEST.md "Verification" (OpenCV 4.6 CPU), as tools/gpu/bench_torch.py.
const std::vector<Ref> kV8Bus = {{0, 0.923f, {672, 374, 807, 876}},
                                 {0, 0.912f, {51, 400, 242, 904}},
                                 {0, 0.909f, {224, 408, 341, 856}},
                                 {5, 0.864f, {32, 230, 798, 770}},
                                 {0, 0.399f, {1, 552, 57, 868}}};
const std::vector<Ref> kV8Zidane = {{0, 0.895f, {148, 199, 1101, 712}},
                                    {0, 0.849f, {751, 41, 1146, 707}},
                                    {27, 0.570f, {437, 439, 521, 713}}};
const std::vector<Ref> kXBus = {{5, 0.903f, {14, 231, 801, 733}},
                                {0, 0.858f, {50, 395, 216, 898}},
                                {0, 0.808f, {220, 402, 347, 855}},
                                {0, 0.696f, {685, 454, 810, 874}}};
const std::vector<Ref> kXZidane = {{0, 0.875f, {151, 201, 680, 713}},
                                   {0, 0.826f, {688, 37, 1150, 707}},
                                   {27, 0.491f, {432, 438, 499, 692}}};

struct Image {
  int w = 0, h = 0;
  std::vector<uint8_t> rgb;
};

Image read_ppm(const std::string& path) {
  Image img;
  std::ifstream in(path, std::ios::binary);
  std::string magic;
  int maxval = 0;
  in >> magic >> img.w >> img.h >> maxval;
  in.get();
  if (magic != "P6" || maxval != 255 || img.w <= 0 || img.h <= 0) return Image{};
  img.rgb.resize(static_cast<size_t>(img.w) * img.h * 3);
  in.read(reinterpret_cast<char*>(img.rgb.data()), static_cast<std::streamsize>(img.rgb.size()));
  return in ? img : Image{};
}

FramePtr host_rgb_frame(const Image& img, uint64_t seq) {
  auto* data = new std::vector<uint8_t>(img.rgb);
  auto f = std::make_unique<Frame>(
      FrameLayout::packed(PixelFormat::kRGB24, img.w, img.h),
      PixelMemory{data->data(), data->size(), MemoryKind::kHost, [data] { delete data; }});
  f->set_identity(FrameIdentity{1, seq, Duration::zero(), Timestamp()});
  return freeze(std::move(f));
}

// RGB -> NV12 (BT.601 limited range) on the host, uploaded into device memory.
FramePtr device_nv12_frame(const Image& img, uint64_t seq) {
  const int w = img.w & ~1, h = img.h & ~1;
  const int stride = (w + 255) & ~255;  // a pitched layout, as decoders give
  std::vector<uint8_t> nv12(static_cast<size_t>(stride) * h * 3 / 2, 0);
  auto px = [&](int x, int y, int c) {
    return static_cast<float>(img.rgb[(static_cast<size_t>(y) * img.w + x) * 3 + c]);
  };
  for (int y = 0; y < h; ++y) {
    for (int x = 0; x < w; ++x) {
      const float r = px(x, y, 0), g = px(x, y, 1), b = px(x, y, 2);
      nv12[static_cast<size_t>(y) * stride + x] = static_cast<uint8_t>(
          std::clamp(16.f + 0.257f * r + 0.504f * g + 0.098f * b + 0.5f, 0.f, 255.f));
    }
  }
  uint8_t* uv = nv12.data() + static_cast<size_t>(stride) * h;
  for (int y = 0; y < h / 2; ++y) {
    for (int x = 0; x < w / 2; ++x) {
      float r = 0, g = 0, b = 0;
      for (int dy = 0; dy < 2; ++dy) {
        for (int dx = 0; dx < 2; ++dx) {
          r += px(2 * x + dx, 2 * y + dy, 0) / 4, g += px(2 * x + dx, 2 * y + dy, 1) / 4,
              b += px(2 * x + dx, 2 * y + dy, 2) / 4;
        }
      }
      uv[static_cast<size_t>(y) * stride + 2 * x] = static_cast<uint8_t>(
          std::clamp(128.f - 0.148f * r - 0.291f * g + 0.439f * b + 0.5f, 0.f, 255.f));
      uv[static_cast<size_t>(y) * stride + 2 * x + 1] = static_cast<uint8_t>(
          std::clamp(128.f + 0.439f * r - 0.368f * g - 0.071f * b + 0.5f, 0.f, 255.f));
    }
  }
  void* dev = nullptr;
  EXPECT_EQ(cudaMalloc(&dev, nv12.size()), cudaSuccess);
  EXPECT_EQ(cudaMemcpy(dev, nv12.data(), nv12.size(), cudaMemcpyHostToDevice), cudaSuccess);
  FrameLayout l;
  l.format = PixelFormat::kNV12;
  l.width = w, l.height = h, l.plane_count = 2;
  l.offsets = {0, static_cast<size_t>(stride) * h, 0};
  l.strides = {stride, stride, 0};
  l.size = nv12.size();
  auto f = std::make_unique<Frame>(l, PixelMemory{static_cast<uint8_t*>(dev), nv12.size(),
                                                  MemoryKind::kDevice, [dev] { cudaFree(dev); }});
  f->set_identity(FrameIdentity{2, seq, Duration::zero(), Timestamp()});
  return freeze(std::move(f));
}

// Every reference has an unused same-class detection with IoU >= 0.9; prints what it found.
void expect_matches(const std::vector<Detection>& dets, const std::vector<Ref>& refs,
                    const std::string& what) {
  std::vector<bool> used(dets.size(), false);
  for (const Ref& r : refs) {
    float best = 0;
    int at = -1;
    for (size_t j = 0; j < dets.size(); ++j) {
      if (used[j] || dets[j].class_id != r.class_id) continue;
      const float v = iou(r.box, dets[j].box);
      if (v > best) best = v, at = static_cast<int>(j);
    }
    if (at >= 0) used[static_cast<size_t>(at)] = true;
    std::printf("ACCURACY %s class %d ref %.3f -> IoU %.4f score %.3f\n", what.c_str(), r.class_id,
                r.score, best, at >= 0 ? dets[static_cast<size_t>(at)].score : 0.f);
    EXPECT_GE(best, 0.9f) << what << ": reference class " << r.class_id << " score " << r.score;
  }
}

class GpuTorchDetectorTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto n = device_count();
    if (!n) GTEST_SKIP() << n.error().to_string();
  }
};

void check_model(const std::string& kind, const std::string& model, const std::vector<Ref>& bus_ref,
                 const std::vector<Ref>& zidane_ref, const std::string& bus_ppm,
                 const std::string& zidane_ppm, bool half) {
  BatchDetectorConfig c;
  c.kind = kind;
  c.model_path = model;
  c.max_batch = 4;
  c.half = half;
  auto det = create_batch_detector(c);
  ASSERT_TRUE(det.ok()) << det.error().to_string();
  ASSERT_TRUE((*det)->warm_up().ok());
  const Image bus = read_ppm(bus_ppm), zidane = read_ppm(zidane_ppm);
  ASSERT_FALSE(bus.rgb.empty()) << bus_ppm;
  ASSERT_FALSE(zidane.rgb.empty()) << zidane_ppm;
  const std::string tag = kind + (half ? " fp16" : " fp32");
  // Host RGB frames of two "streams" in one batch.
  std::vector<FramePtr> batch{host_rgb_frame(bus, 1), host_rgb_frame(zidane, 2)};
  auto res = (*det)->detect_batch(batch);
  ASSERT_TRUE(res.ok()) << res.error().to_string();
  ASSERT_EQ(res->size(), 2u);
  expect_matches((*res)[0], bus_ref, tag + " bus.jpg batch");
  expect_matches((*res)[1], zidane_ref, tag + " zidane.jpg batch");
  // Device NV12 frames (the NVDEC path's input), three in one batch.
  std::vector<FramePtr> nv{device_nv12_frame(bus, 3), device_nv12_frame(zidane, 4),
                           device_nv12_frame(bus, 5)};
  auto res2 = (*det)->detect_batch(nv);
  ASSERT_TRUE(res2.ok()) << res2.error().to_string();
  expect_matches((*res2)[0], bus_ref, tag + " bus.jpg nv12");
  expect_matches((*res2)[1], zidane_ref, tag + " zidane.jpg nv12");
  ASSERT_EQ((*res2)[0].size(), (*res2)[2].size());  // the same picture twice in a batch
  for (size_t i = 0; i < (*res2)[0].size(); ++i) EXPECT_EQ((*res2)[0][i].box, (*res2)[2][i].box);
  const BatchTimings t = (*det)->last_timings();
  EXPECT_EQ(t.batch, 3);
  EXPECT_EQ(t.bucket, 4);
  std::printf(
      "TIMING %s batch 3 (bucket 4): preprocess %.3f ms forward %.3f ms postprocess %.3f ms total "
      "%.3f ms\n",
      tag.c_str(), t.preprocess.as_millis(), t.forward.as_millis(), t.postprocess.as_millis(),
      t.total.as_millis());
}

TEST_F(GpuTorchDetectorTest, Yolov8nMatchesTheCpuReferences) {
  ORION_REQUIRE_ASSET(model, "yolov8n.pt");
  ORION_REQUIRE_ASSET(bus, "bus.ppm");
  ORION_REQUIRE_ASSET(zidane, "zidane.ppm");
  check_model("yolov8", model, kV8Bus, kV8Zidane, bus, zidane, true);
  check_model("yolov8", model, kV8Bus, kV8Zidane, bus, zidane, false);
}

TEST_F(GpuTorchDetectorTest, YoloxNanoMatchesTheCpuReferences) {
  ORION_REQUIRE_ASSET(model, "yolox_nano.pt");
  ORION_REQUIRE_ASSET(bus, "bus.ppm");
  ORION_REQUIRE_ASSET(zidane, "zidane.ppm");
  check_model("yolox", model, kXBus, kXZidane, bus, zidane, true);
  check_model("yolox", model, kXBus, kXZidane, bus, zidane, false);
}

TEST_F(GpuTorchDetectorTest, BadConfigurationsAreNamed) {
  ORION_REQUIRE_ASSET(model, "yolov8n.pt");
  BatchDetectorConfig c;
  c.kind = "ssd";
  c.model_path = model;
  auto r = create_batch_detector(c);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, "detector.unknown_kind");
  c.kind = "yolov8";
  c.model_path = "no/such/model.pt";
  r = create_batch_detector(c);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, "model.not_found");
  c.model_path = model;
  c.device = "cuda:64";
  r = create_batch_detector(c);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, "gpu.no_such_device");
  c.device = "cuda:0";
  c.kind = "yolox";  // a yolov8 model loaded as yolox: wrong input size and output layout
  r = create_batch_detector(c);
  ASSERT_FALSE(r.ok());
  EXPECT_TRUE(r.error().code == "model.output_shape" || r.error().code == "model.load_failed")
      << r.error().to_string();
  c.kind = "yolov8";
  c.max_batch = 2;
  auto det = create_batch_detector(c);
  ASSERT_TRUE(det.ok()) << det.error().to_string();
  std::vector<FramePtr> three;
  auto big = (*det)->detect_batch(three);
  EXPECT_TRUE(big.ok());
  Image tiny{2, 2, std::vector<uint8_t>(12, 100)};
  three = {host_rgb_frame(tiny, 1), host_rgb_frame(tiny, 2), host_rgb_frame(tiny, 3)};
  big = (*det)->detect_batch(three);
  ASSERT_FALSE(big.ok());
  EXPECT_EQ(big.error().code, "detector.batch_too_large");
}

}  // namespace
}  // namespace orion::gpu
