// draw_overlay on results no detector would produce: it draws inside the picture and nowhere else
// (run under UBSan by scripts/sanitize.sh: a float → int cast of 1e30 would be reported there).
#include "media/overlay.h"

#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <vector>

namespace orion::media {
namespace {

TEST(Overlay, AbsurdBoxesAreDrawnInsideThePictureAndNothingOutsideIsTouched) {
  constexpr int kW = 64, kH = 48, kStride = kW * 3 + 16;
  // Guard bytes around the picture and in each row's padding catch any write outside it.
  std::vector<uint8_t> mem(static_cast<size_t>(kStride) * (kH + 2), 0xAB);
  uint8_t* picture = mem.data() + kStride;
  for (int y = 0; y < kH; ++y) std::fill_n(picture + y * kStride, kW * 3, uint8_t{0});
  DetectionResult r;
  r.pipeline = "p";
  const float inf = std::numeric_limits<float>::infinity(), nan = std::nanf("");
  for (Box b : {Box{-1e30f, -1e30f, 1e30f, 1e30f}, Box{nan, nan, nan, nan},
                Box{inf, -inf, -inf, inf}, Box{30, 30, 10, 10}, Box{5, 5, 20, 20}})
    r.detections.push_back(Detection{1, "x", 0.5f, b});
  for (int k = 0; k < 100000; ++k) r.detections.push_back(Detection{1, "x", 0.5f, Box{1, 1, 2, 2}});
  draw_overlay(picture, kW, kH, kStride, OverlayText{}, {r});
  for (int x = 0; x < kStride; ++x) {
    EXPECT_EQ(mem[static_cast<size_t>(x)], 0xAB) << "above the picture";
    EXPECT_EQ(mem[static_cast<size_t>(kStride) * (kH + 1) + static_cast<size_t>(x)], 0xAB)
        << "below";
  }
  bool drew = false;
  for (int y = 0; y < kH; ++y) {
    for (int x = kW * 3; x < kStride; ++x)
      EXPECT_EQ(picture[y * kStride + x], 0xAB) << "row padding";
    for (int x = 0; x < kW * 3; ++x) drew = drew || picture[y * kStride + x] != 0;
  }
  EXPECT_TRUE(drew);
}

}  // namespace
}  // namespace orion::media
