// The overlay drawn in the decoder's layout (I420, NV12) against the BGR overlay it replaces on
// the video path (ADR 0080): the BGR picture, drawn and then converted to I420 as the encoder
// input was made before, is the reference. Checked pixel by pixel in Y, U and V.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <string>
#include <vector>

#include "colour/convert.h"
#include "media/jpeg.h"
#include "media/overlay.h"

namespace orion::media {
namespace {

constexpr int kW = 320, kH = 240;
constexpr size_t kYsz = static_cast<size_t>(kW) * kH, kCsz = kYsz / 4;

std::vector<DetectionResult> results() {
  DetectionResult r;
  r.pipeline = "people";
  r.frame.sequence = 7;
  r.detections.push_back(Detection{0, "person", 0.91f, Box{100, 100, 200, 200}});
  r.detections.push_back(Detection{2, "car", 0.55f, Box{31, 151, 91, 231}});  // odd corners
  return {r};
}

OverlayText text() { return OverlayText{"cam", "12:34:56.789", 25.0, 9}; }

// A picture with structure (gradients), so that "untouched" means something.
std::vector<uint8_t> bgr_source() {
  std::vector<uint8_t> bgr(kYsz * 3);
  for (int y = 0; y < kH; ++y)
    for (int x = 0; x < kW; ++x) {
      uint8_t* p = &bgr[(static_cast<size_t>(y) * kW + static_cast<size_t>(x)) * 3];
      p[0] = static_cast<uint8_t>(60 + x / 4);
      p[1] = static_cast<uint8_t>(80 + y / 3);
      p[2] = static_cast<uint8_t>(100 + (x + y) / 8);
    }
  return bgr;
}

std::vector<uint8_t> to_i420(const std::vector<uint8_t>& bgr) {
  std::vector<uint8_t> out(kYsz * 3 / 2);
  EXPECT_TRUE(colour::bgr_to_i420(bgr.data(), kW, kH, kW * 3, out.data()).ok());
  return out;
}

YuvPicture i420_picture(std::vector<uint8_t>& buf) {
  YuvPicture p;
  p.format = PixelFormat::kI420;
  p.width = kW;
  p.height = kH;
  p.planes = {buf.data(), buf.data() + kYsz, buf.data() + kYsz + kCsz};
  p.strides = {kW, kW / 2, kW / 2};
  return p;
}

// The YUV of a uniform BGR colour, as the BGR → I420 conversion gives it.
std::array<int, 3> yuv_of(uint8_t b, uint8_t g, uint8_t r) {
  std::vector<uint8_t> px(4 * 3);
  for (int i = 0; i < 4; ++i) {
    px[static_cast<size_t>(i) * 3] = b;
    px[static_cast<size_t>(i) * 3 + 1] = g;
    px[static_cast<size_t>(i) * 3 + 2] = r;
  }
  std::vector<uint8_t> out(6);
  EXPECT_TRUE(colour::bgr_to_i420(px.data(), 2, 2, 6, out.data()).ok());
  return {out[0], out[4], out[5]};
}

struct Pair {
  std::vector<uint8_t> reference;  // BGR drawn, then converted to I420
  std::vector<uint8_t> drawn;      // converted to I420, then drawn in I420
  std::vector<uint8_t> untouched;  // converted to I420, nothing drawn
  std::vector<uint8_t> bgr_drawn;
};

Pair draw_both() {
  Pair p;
  p.bgr_drawn = bgr_source();
  p.untouched = to_i420(p.bgr_drawn);
  draw_overlay(p.bgr_drawn.data(), kW, kH, kW * 3, text(), results());
  p.reference = to_i420(p.bgr_drawn);
  p.drawn = p.untouched;
  draw_overlay(i420_picture(p.drawn), text(), results());
  return p;
}

uint8_t y_at(const std::vector<uint8_t>& i420, int x, int y) {
  return i420[static_cast<size_t>(y) * kW + static_cast<size_t>(x)];
}
uint8_t u_at(const std::vector<uint8_t>& i420, int x, int y) {
  return i420[kYsz + static_cast<size_t>(y / 2) * (kW / 2) + static_cast<size_t>(x / 2)];
}
uint8_t v_at(const std::vector<uint8_t>& i420, int x, int y) {
  return i420[kYsz + kCsz + static_cast<size_t>(y / 2) * (kW / 2) + static_cast<size_t>(x / 2)];
}

TEST(OverlayYuv, BoxEdgesAndLabelsHaveTheColoursOfTheBgrOverlayInYUV) {
  const Pair p = draw_both();
  // The box's left edge (x = 100, thickness 2): in BGR it has the pipeline's colour c; in I420
  // its Y, U and V are c's.
  const uint8_t* c = &p.bgr_drawn[(150u * kW + 100u) * 3];
  const auto want = yuv_of(c[0], c[1], c[2]);
  for (int y : {120, 150, 180}) {
    EXPECT_NEAR(y_at(p.drawn, 100, y), want[0], 1) << "Y of the box edge at row " << y;
    EXPECT_NEAR(u_at(p.drawn, 100, y), want[1], 1) << "U of the box edge at row " << y;
    EXPECT_NEAR(v_at(p.drawn, 100, y), want[2], 1) << "V of the box edge at row " << y;
  }
  EXPECT_NE(y_at(p.drawn, 100, 150), y_at(p.untouched, 100, 150));
  // Inside the boxes and far from any drawing: exactly the picture's pixels.
  for (auto [x, y] : {std::pair{150, 150}, std::pair{60, 190}, std::pair{300, 220}}) {
    EXPECT_EQ(y_at(p.drawn, x, y), y_at(p.untouched, x, y)) << x << "," << y;
    EXPECT_EQ(u_at(p.drawn, x, y), u_at(p.untouched, x, y)) << x << "," << y;
    EXPECT_EQ(v_at(p.drawn, x, y), v_at(p.untouched, x, y)) << x << "," << y;
  }
  // The label's background is black (Y 16, neutral chroma) where the BGR one is black.
  const auto black = yuv_of(0, 0, 0);
  int black_px = 0, matched = 0;
  for (int y = 0; y < kH; y += 2)
    for (int x = 0; x < kW; x += 2) {
      const uint8_t* b = &p.bgr_drawn[(static_cast<size_t>(y) * kW + static_cast<size_t>(x)) * 3];
      const uint8_t* b2 = b + kW * 3 + 3;  // the 2x2 block is black in BGR: so its chroma is
      if (b[0] || b[1] || b[2] || b2[0] || b2[1] || b2[2]) continue;
      ++black_px;
      matched += std::abs(y_at(p.drawn, x, y) - black[0]) <= 1 &&
                 std::abs(u_at(p.drawn, x, y) - black[1]) <= 1 &&
                 std::abs(v_at(p.drawn, x, y) - black[2]) <= 1;
    }
  EXPECT_GT(black_px, 200) << "labels were drawn";
  EXPECT_GE(matched, black_px * 95 / 100) << matched << " of " << black_px;
}

TEST(OverlayYuv, MatchesTheBgrOverlayConvertedToI420PlaneByPlane) {
  const Pair p = draw_both();
  auto compare = [&](size_t from, size_t count, const char* plane, double max_mean,
                     double min_close) {
    double sum = 0;
    size_t close = 0, changed = 0;
    for (size_t i = from; i < from + count; ++i) {
      const int d = std::abs(p.drawn[i] - p.reference[i]);
      sum += d;
      close += d <= 8;
      changed += p.reference[i] != p.untouched[i];
    }
    const double mean = sum / static_cast<double>(count);
    std::printf("%s: mean |difference| %.3f, within 8: %.4f, changed by the overlay: %zu of %zu\n",
                plane, mean, static_cast<double>(close) / static_cast<double>(count), changed,
                count);
    EXPECT_LT(mean, max_mean) << plane << ": mean |difference| per pixel";
    EXPECT_GE(static_cast<double>(close) / static_cast<double>(count), min_close)
        << plane << ": share within 8";
    EXPECT_GT(changed, count / 100) << plane << ": the overlay changed the reference";
  };
  // Luma is drawn at full resolution as in BGR; chroma differs at the edges of 2-pixel lines
  // that start on an odd coordinate (BGR → I420 averages them with the background over a 2×2
  // block, the YUV overlay colours one chroma sample fully).
  compare(0, kYsz, "Y", 1.0, 0.99);
  compare(kYsz, kCsz, "U", 2.0, 0.95);
  compare(kYsz + kCsz, kCsz, "V", 2.0, 0.95);
  // To look at them: ORION_OVERLAY_YUV_DUMP=folder writes both as JPEG (reference, drawn).
  if (const char* dir = std::getenv("ORION_OVERLAY_YUV_DUMP")) {
    for (auto [name, buf] : {std::pair{"reference", &p.reference}, std::pair{"drawn", &p.drawn}}) {
      std::vector<uint8_t> copy = *buf;
      YuvPicture y = i420_picture(copy);
      colour::ImageView v;
      v.format = y.format;
      v.width = kW;
      v.height = kH;
      v.planes = {y.planes[0], y.planes[1], y.planes[2]};
      v.strides = y.strides;
      auto jpeg = encode_jpeg(v, 95);
      ASSERT_TRUE(jpeg.ok());
      std::ofstream(std::string(dir) + "/overlay_" + name + ".jpg", std::ios::binary) << *jpeg;
    }
  }
}

TEST(OverlayYuv, Nv12GetsTheSameValuesAsI420) {
  const Pair p = draw_both();
  std::vector<uint8_t> nv12(kYsz * 3 / 2);
  std::copy(p.untouched.begin(), p.untouched.begin() + static_cast<long>(kYsz), nv12.begin());
  for (size_t k = 0; k < kCsz; ++k) {
    nv12[kYsz + 2 * k] = p.untouched[kYsz + k];
    nv12[kYsz + 2 * k + 1] = p.untouched[kYsz + kCsz + k];
  }
  YuvPicture pic;
  pic.format = PixelFormat::kNV12;
  pic.width = kW;
  pic.height = kH;
  pic.planes = {nv12.data(), nv12.data() + kYsz, nullptr};
  pic.strides = {kW, kW, 0};
  draw_overlay(pic, text(), results());
  for (size_t k = 0; k < kYsz; ++k) ASSERT_EQ(nv12[k], p.drawn[k]) << "Y at " << k;
  for (size_t k = 0; k < kCsz; ++k) {
    ASSERT_EQ(nv12[kYsz + 2 * k], p.drawn[kYsz + k]) << "U at " << k;
    ASSERT_EQ(nv12[kYsz + 2 * k + 1], p.drawn[kYsz + kCsz + k]) << "V at " << k;
  }
}

TEST(OverlayYuv, SequenceStampReadsBackFromTheYPlaneAndChromaIsNeutral) {
  std::vector<uint8_t> buf = to_i420(bgr_source());
  stamp_sequence(i420_picture(buf), 123456);
  EXPECT_EQ(read_sequence(buf.data(), kW, kH, kW), std::optional<uint64_t>(123456));
  EXPECT_EQ(u_at(buf, 2, 2), 128);
  EXPECT_EQ(v_at(buf, 2, 2), 128);
}

TEST(OverlayYuv, OddSizesAndOtherFormatsAreNotDrawnOn) {
  std::vector<uint8_t> buf(kYsz * 3 / 2, 77);
  YuvPicture p = i420_picture(buf);
  p.width = kW - 1;  // odd: not a valid 4:2:0 picture
  draw_overlay(p, text(), results());
  p = i420_picture(buf);
  p.format = PixelFormat::kBGR24;
  draw_overlay(p, text(), results());
  stamp_sequence(p, 5);
  for (uint8_t v : buf) ASSERT_EQ(v, 77);
}

}  // namespace
}  // namespace orion::media
