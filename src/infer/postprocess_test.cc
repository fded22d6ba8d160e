// Letterbox geometry, YOLOv8 / YOLOX decoding on synthetic tensors (known anchors -> known
// boxes) and class-wise NMS edge cases. No model, no OpenCV.
#include "infer/postprocess.h"

#include <gtest/gtest.h>

#include <cmath>
#include <vector>

namespace orion::infer {
namespace {

void expect_box(const Box& b, float x1, float y1, float x2, float y2, float tol = 1e-3f) {
  EXPECT_NEAR(b.x1, x1, tol);
  EXPECT_NEAR(b.y1, y1, tol);
  EXPECT_NEAR(b.x2, x2, tol);
  EXPECT_NEAR(b.y2, y2, tol);
}

TEST(Letterbox, CentredPortraitImagePadsLeftAndRight) {
  const Letterbox l = make_letterbox(810, 1080, 640, 640, LetterboxAlign::kCenter);  // bus.jpg
  EXPECT_NEAR(l.scale, 640.0f / 1080.0f, 1e-6f);
  EXPECT_EQ(l.resized_w, 480);
  EXPECT_EQ(l.resized_h, 640);
  EXPECT_EQ(l.pad_left, 80);
  EXPECT_EQ(l.pad_top, 0);
}

TEST(Letterbox, CentredLandscapeImagePadsTopAndBottom) {
  const Letterbox l = make_letterbox(1280, 720, 640, 640, LetterboxAlign::kCenter);  // zidane.jpg
  EXPECT_FLOAT_EQ(l.scale, 0.5f);
  EXPECT_EQ(l.resized_w, 640);
  EXPECT_EQ(l.resized_h, 360);
  EXPECT_EQ(l.pad_left, 0);
  EXPECT_EQ(l.pad_top, 140);
}

TEST(Letterbox, OddPaddingPutsTheExtraPixelAtTheBottomLikeUltralytics) {
  // 100×51 -> 64: height round(51·0.64) = 33, 31 rows of padding: 15 on top, 16 below.
  const Letterbox l = make_letterbox(100, 51, 64, 64, LetterboxAlign::kCenter);
  EXPECT_EQ(l.resized_h, 33);
  EXPECT_EQ(l.pad_top, 15);
}

TEST(Letterbox, TopLeftTruncatesTheSizeAndDoesNotPad) {
  const Letterbox l = make_letterbox(1280, 720, 416, 416, LetterboxAlign::kTopLeft);
  EXPECT_FLOAT_EQ(l.scale, 0.325f);
  EXPECT_EQ(l.resized_w, 416);
  EXPECT_EQ(l.resized_h, 234);
  EXPECT_EQ(l.pad_left, 0);
  EXPECT_EQ(l.pad_top, 0);
  const Letterbox s = make_letterbox(1000, 333, 416, 416, LetterboxAlign::kTopLeft);
  EXPECT_EQ(s.resized_h, 138);  // int(333 · 0.416) = int(138.528)
}

TEST(Letterbox, ToSourceInvertsTheMappingAndClips) {
  const Letterbox l = make_letterbox(810, 1080, 640, 640, LetterboxAlign::kCenter);
  const float r = l.scale;
  // A source box mapped into the input and back is unchanged.
  const Box src{100, 200, 300, 900};
  const Box in{src.x1 * r + 80, src.y1 * r, src.x2 * r + 80, src.y2 * r};
  expect_box(l.to_source(in), 100, 200, 300, 900, 1e-2f);
  // Parts in the padding are clipped to the image.
  expect_box(l.to_source(Box{10, -5, 630, 700}), 0, 0, 810, 1080);
}

TEST(GridAnchors, MatchTheModelsOfTheManifest) {
  EXPECT_EQ(grid_anchor_count(640, 640), 8400);
  EXPECT_EQ(grid_anchor_count(416, 416), 3549);
  EXPECT_EQ(grid_anchor_count(64, 32), 8 * 4 + 4 * 2 + 2 * 1);
}

// A [4 + 3, 5] YOLOv8 tensor (3 classes, 5 anchors), set anchor by anchor.
struct V8Tensor {
  static constexpr int kAnchors = 5, kAttrs = 7;
  std::vector<float> rows = std::vector<float>(kAnchors * kAttrs, 0.0f);  // [attr][anchor]
  void set(int a, float cx, float cy, float w, float h, std::vector<float> cls) {
    const float v[4] = {cx, cy, w, h};
    for (int i = 0; i < 4; ++i) rows[static_cast<size_t>(i * kAnchors + a)] = v[i];
    for (int c = 0; c < 3; ++c)
      rows[static_cast<size_t>((4 + c) * kAnchors + a)] = cls[static_cast<size_t>(c)];
  }
  std::vector<float> transposed() const {  // [anchor][attr]
    std::vector<float> t(rows.size());
    for (int a = 0; a < kAnchors; ++a)
      for (int i = 0; i < kAttrs; ++i)
        t[static_cast<size_t>(a * kAttrs + i)] = rows[static_cast<size_t>(i * kAnchors + a)];
    return t;
  }
};

TEST(DecodeYolov8, KnownAnchorGivesKnownBoxClassAndScore) {
  V8Tensor t;
  t.set(2, 100, 50, 20, 10, {0.1f, 0.9f, 0.3f});
  t.set(4, 10, 10, 4, 4, {0.2f, 0.1f, 0.24f});  // below 0.25 in every class
  std::vector<Candidate> out;
  decode_yolov8(t.rows.data(), 5, 7, false, 0.25f, {}, out);
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].class_id, 1);
  EXPECT_FLOAT_EQ(out[0].score, 0.9f);
  expect_box(out[0].box, 90, 45, 110, 55);
}

TEST(DecodeYolov8, TransposedLayoutDecodesTheSame) {
  V8Tensor t;
  t.set(0, 320, 320, 64, 128, {0.5f, 0.0f, 0.7f});
  t.set(3, 8, 16, 2, 2, {0.26f, 0.0f, 0.0f});
  std::vector<Candidate> a, b;
  decode_yolov8(t.rows.data(), 5, 7, false, 0.25f, {}, a);
  const auto tr = t.transposed();
  decode_yolov8(tr.data(), 5, 7, true, 0.25f, {}, b);
  ASSERT_EQ(a.size(), 2u);
  ASSERT_EQ(b.size(), 2u);
  for (size_t i = 0; i < 2; ++i) {
    EXPECT_EQ(a[i].class_id, b[i].class_id);
    EXPECT_FLOAT_EQ(a[i].score, b[i].score);
    EXPECT_EQ(a[i].box, b[i].box);
  }
  EXPECT_EQ(a[0].class_id, 2);
  expect_box(a[0].box, 288, 256, 352, 384);
}

TEST(DecodeYolov8, ClassMaskPicksTheBestAllowedClass) {
  V8Tensor t;
  t.set(1, 50, 50, 10, 10, {0.4f, 0.9f, 0.3f});
  std::vector<Candidate> out;
  const std::vector<uint8_t> mask = {1, 0, 1};
  decode_yolov8(t.rows.data(), 5, 7, false, 0.25f, mask, out);
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].class_id, 0);
  EXPECT_FLOAT_EQ(out[0].score, 0.4f);
  out.clear();
  const std::vector<uint8_t> only_one = {0, 1, 0};
  t.set(1, 50, 50, 10, 10, {0.4f, 0.2f, 0.3f});
  decode_yolov8(t.rows.data(), 5, 7, false, 0.25f, only_one, out);
  EXPECT_TRUE(out.empty());
}

// YOLOX on a 64×64 input: grids 8×8 (stride 8), 4×4 (16), 2×2 (32) = 84 anchors.
TEST(DecodeYolox, GridOffsetStrideAndExpSizesGiveTheKnownBox) {
  constexpr int kAnchors = 84, kAttrs = 5 + 3;
  std::vector<float> t(kAnchors * kAttrs, 0.0f);
  // Stride-16 grid, gx = 2, gy = 1: anchor 64 + 1·4 + 2 = 70.
  float* a = &t[70 * kAttrs];
  a[0] = 0.5f;
  a[1] = 0.25f;
  a[2] = std::log(2.0f);
  a[3] = 0.0f;
  a[4] = 0.8f;      // objectness
  a[5 + 2] = 0.5f;  // class 2
  a[5 + 0] = 0.3f;
  // Stride-32 grid, gx = 1, gy = 1: anchor 64 + 16 + 3 = 83; objectness high, classes low.
  float* b = &t[83 * kAttrs];
  b[4] = 0.9f;
  b[5] = 0.2f;  // score 0.18 < 0.25
  std::vector<Candidate> out;
  decode_yolox(t.data(), kAnchors, kAttrs, 64, 64, 0.25f, {}, out);
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].class_id, 2);
  EXPECT_FLOAT_EQ(out[0].score, 0.4f);  // obj · cls
  // cx = (0.5 + 2)·16 = 40, cy = (0.25 + 1)·16 = 20, w = 2·16, h = 1·16.
  expect_box(out[0].box, 24, 12, 56, 28);

  out.clear();
  decode_yolox(t.data(), kAnchors, kAttrs, 64, 64, 0.5f, {}, out);
  EXPECT_TRUE(out.empty());
}

TEST(DecodeYolox, AnchorCountThatDoesNotMatchTheInputDecodesNothing) {
  std::vector<float> t(83 * 8, 0.9f);
  std::vector<Candidate> out;
  decode_yolox(t.data(), 83, 8, 64, 64, 0.25f, {}, out);
  EXPECT_TRUE(out.empty());
}

Candidate cand(int cls, float score, Box b) { return Candidate{cls, score, b}; }

TEST(Nms, EmptyInputGivesNothing) { EXPECT_TRUE(nms_per_class({}, 0.45f).empty()); }

TEST(Nms, OverlappingBoxesOfOneClassKeepTheBest) {
  auto kept = nms_per_class({cand(0, 0.6f, {0, 0, 10, 10}), cand(0, 0.9f, {1, 1, 11, 11})}, 0.45f);
  ASSERT_EQ(kept.size(), 1u);
  EXPECT_FLOAT_EQ(kept[0].score, 0.9f);
}

TEST(Nms, SameBoxInDifferentClassesIsKeptForEach) {
  auto kept = nms_per_class({cand(0, 0.6f, {0, 0, 10, 10}), cand(5, 0.9f, {0, 0, 10, 10})}, 0.45f);
  ASSERT_EQ(kept.size(), 2u);
  EXPECT_EQ(kept[0].class_id, 5);
  EXPECT_EQ(kept[1].class_id, 0);
}

TEST(Nms, IouExactlyAtTheThresholdIsNotSuppressed) {
  // IoU([0,0,10,10], [0,0,10,5]) = 50 / 100 = 0.5.
  auto kept = nms_per_class({cand(1, 0.9f, {0, 0, 10, 10}), cand(1, 0.8f, {0, 0, 10, 5})}, 0.5f);
  EXPECT_EQ(kept.size(), 2u);
  kept = nms_per_class({cand(1, 0.9f, {0, 0, 10, 10}), cand(1, 0.8f, {0, 0, 10, 5})}, 0.49f);
  EXPECT_EQ(kept.size(), 1u);
}

TEST(Nms, SuppressedBoxesDoNotSuppressOthers) {
  // A overlaps B, B overlaps C, A does not overlap C: greedy keeps A and C.
  auto kept = nms_per_class({cand(0, 0.7f, {12, 0, 22, 10}), cand(0, 0.9f, {0, 0, 10, 10}),
                             cand(0, 0.8f, {6, 0, 16, 10})},
                            0.2f);  // IoU(A,B) = IoU(B,C) = 0.25, IoU(A,C) = 0
  ASSERT_EQ(kept.size(), 2u);
  EXPECT_FLOAT_EQ(kept[0].score, 0.9f);
  EXPECT_FLOAT_EQ(kept[1].score, 0.7f);
}

TEST(Nms, EqualScoresAreOrderedByClassThenInputOrder) {
  auto kept = nms_per_class(
      {cand(3, 0.5f, {0, 0, 1, 1}), cand(1, 0.5f, {5, 5, 6, 6}), cand(1, 0.5f, {9, 9, 10, 10})},
      0.45f);
  ASSERT_EQ(kept.size(), 3u);
  EXPECT_EQ(kept[0].class_id, 1);
  EXPECT_EQ(kept[0].box.x1, 5);
  EXPECT_EQ(kept[1].box.x1, 9);
  EXPECT_EQ(kept[2].class_id, 3);
}

TEST(Nms, EmptyBoxesNeverSuppressEachOther) {
  auto kept = nms_per_class({cand(0, 0.9f, {5, 5, 5, 5}), cand(0, 0.8f, {5, 5, 5, 5})}, 0.0f);
  EXPECT_EQ(kept.size(), 2u);
}

TEST(Nms, StopsAtMaxDetections) {
  std::vector<Candidate> many;
  for (int i = 0; i < 50; ++i) {
    many.push_back(cand(0, 0.01f * static_cast<float>(i), {20.0f * i, 0, 20.0f * i + 10, 10}));
  }
  auto kept = nms_per_class(many, 0.45f, 10);
  ASSERT_EQ(kept.size(), 10u);
  EXPECT_FLOAT_EQ(kept[0].score, 0.49f);
}

}  // namespace
}  // namespace orion::infer
