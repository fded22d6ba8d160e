// Pixel-format conversion, checked against values computed by hand (BT.601 limited range, as
// decoders output) and against each other (padded and packed planes, NV12 and I420).
#include "colour/convert.h"

#include <gtest/gtest.h>

#include <cstdlib>
#include <vector>

#include "core/frame_pool.h"

namespace orion::colour {
namespace {

constexpr int kW = 16, kH = 8;

// One I420 image in three separate plane buffers with the given row strides, filled with a
// pattern that differs per pixel, so that any plane or row mix-up shows.
struct I420 {
  std::vector<uint8_t> y, u, v;
  int ys, cs;
  I420(int y_stride, int c_stride) : ys(y_stride), cs(c_stride) {
    y.assign(static_cast<size_t>(ys * kH), 0xEE);
    u.assign(static_cast<size_t>(cs * kH / 2), 0xEE);
    v.assign(static_cast<size_t>(cs * kH / 2), 0xEE);
    for (int r = 0; r < kH; ++r)
      for (int c = 0; c < kW; ++c)
        y[static_cast<size_t>(r * ys + c)] = static_cast<uint8_t>(16 + r * 20 + c * 7);
    for (int r = 0; r < kH / 2; ++r)
      for (int c = 0; c < kW / 2; ++c) {
        u[static_cast<size_t>(r * cs + c)] = static_cast<uint8_t>(60 + r * 30 + c * 5);
        v[static_cast<size_t>(r * cs + c)] = static_cast<uint8_t>(200 - r * 25 - c * 6);
      }
  }
  ImageView view() const {
    ImageView iv;
    iv.format = PixelFormat::kI420;
    iv.width = kW;
    iv.height = kH;
    iv.planes = {y.data(), u.data(), v.data()};
    iv.strides = {ys, cs, cs};
    return iv;
  }
};

std::vector<uint8_t> bgr_of(const ImageView& v) {
  std::vector<uint8_t> out(static_cast<size_t>(v.width * 3 * v.height));
  const Status st = to_bgr(v, out.data(), v.width * 3);
  EXPECT_TRUE(st.ok()) << st.error().to_string();
  return out;
}

// A view of packed I420 in one buffer: Y, then U, then V.
ImageView packed_i420_view(const std::vector<uint8_t>& yuv) {
  ImageView v;
  v.format = PixelFormat::kI420;
  v.width = kW;
  v.height = kH;
  v.planes = {yuv.data(), yuv.data() + kW * kH, yuv.data() + kW * kH * 5 / 4};
  v.strides = {kW, kW / 2, kW / 2};
  return v;
}

ImageView packed_view(PixelFormat f, const std::vector<uint8_t>& px, int channels) {
  ImageView v;
  v.format = f;
  v.width = kW;
  v.height = kH;
  v.planes[0] = px.data();
  v.strides[0] = kW * channels;
  return v;
}

TEST(ColourToBgr, LimitedRangeYuvRedBecomesBgrRed) {
  // Y=81 U=90 V=240 is pure red in BT.601 limited range.
  std::vector<uint8_t> yuv(static_cast<size_t>(kW * kH * 3 / 2));
  std::fill(yuv.begin(), yuv.begin() + kW * kH, 81);
  std::fill(yuv.begin() + kW * kH, yuv.begin() + kW * kH * 5 / 4, 90);
  std::fill(yuv.begin() + kW * kH * 5 / 4, yuv.end(), 240);
  const auto bgr = bgr_of(packed_i420_view(yuv));
  for (size_t i = 0; i < bgr.size(); i += 3) {
    EXPECT_LE(bgr[i], 2);        // B
    EXPECT_LE(bgr[i + 1], 2);    // G
    EXPECT_GE(bgr[i + 2], 253);  // R
  }
}

TEST(ColourToBgr, PaddedI420PlanesGiveTheSameBgrAsPackedOnes) {
  const I420 packed(kW, kW / 2), padded(kW + 16, kW / 2 + 8);
  EXPECT_EQ(bgr_of(packed.view()), bgr_of(padded.view()));
}

TEST(ColourToBgr, Nv12GivesTheSameBgrAsI420WithTheSameSamples) {
  const I420 src(kW, kW / 2);
  std::vector<uint8_t> uv(static_cast<size_t>(kW * kH / 2));
  for (size_t i = 0; i < src.u.size(); ++i) {
    uv[2 * i] = src.u[i];
    uv[2 * i + 1] = src.v[i];
  }
  ImageView nv12;
  nv12.format = PixelFormat::kNV12;
  nv12.width = kW;
  nv12.height = kH;
  nv12.planes = {src.y.data(), uv.data(), nullptr};
  nv12.strides = {kW, kW, 0};
  EXPECT_EQ(bgr_of(nv12), bgr_of(src.view()));
}

TEST(ColourToBgr, RgbIsSwappedGreyIsReplicatedBgrIsCopied) {
  std::vector<uint8_t> rgb(static_cast<size_t>(kW * kH * 3)), grey(static_cast<size_t>(kW * kH));
  for (size_t i = 0; i < grey.size(); ++i) {
    rgb[3 * i] = 10;
    rgb[3 * i + 1] = 20;
    rgb[3 * i + 2] = static_cast<uint8_t>(i);
    grey[i] = static_cast<uint8_t>(i * 2);
  }
  const auto from_rgb = bgr_of(packed_view(PixelFormat::kRGB24, rgb, 3));
  const auto from_grey = bgr_of(packed_view(PixelFormat::kGray8, grey, 1));
  for (size_t i = 0; i < grey.size(); ++i) {
    EXPECT_EQ(from_rgb[3 * i], static_cast<uint8_t>(i));
    EXPECT_EQ(from_rgb[3 * i + 1], 20);
    EXPECT_EQ(from_rgb[3 * i + 2], 10);
    for (int c = 0; c < 3; ++c) EXPECT_EQ(from_grey[3 * i + static_cast<size_t>(c)], grey[i]);
  }
  EXPECT_EQ(bgr_of(packed_view(PixelFormat::kBGR24, rgb, 3)), rgb);
}

TEST(ColourToBgr, WritesRowsAtTheDestinationStrideOnly) {
  const I420 src(kW, kW / 2);
  const int stride = kW * 3 + 5;
  std::vector<uint8_t> out(static_cast<size_t>(stride * kH), 0xAB);
  ASSERT_TRUE(to_bgr(src.view(), out.data(), stride).ok());
  const auto packed = bgr_of(src.view());
  for (int r = 0; r < kH; ++r) {
    for (int b = 0; b < kW * 3; ++b)
      EXPECT_EQ(out[static_cast<size_t>(r * stride + b)],
                packed[static_cast<size_t>(r * kW * 3 + b)]);
    for (int b = kW * 3; b < stride; ++b) EXPECT_EQ(out[static_cast<size_t>(r * stride + b)], 0xAB);
  }
}

TEST(ColourToBgr, ReadsAFrameThroughItsLayout) {
  HeapFramePool pool;
  auto f = pool.acquire(FrameLayout::packed(PixelFormat::kI420, kW, kH, 32));  // padded rows
  ASSERT_TRUE(f.ok());
  const I420 src(kW, kW / 2);
  Frame& fr = **f;
  for (int r = 0; r < kH; ++r)
    std::copy_n(&src.y[static_cast<size_t>(r * kW)], kW, fr.mutable_plane(0) + r * fr.stride(0));
  for (int r = 0; r < kH / 2; ++r) {
    std::copy_n(&src.u[static_cast<size_t>(r * kW / 2)], kW / 2,
                fr.mutable_plane(1) + r * fr.stride(1));
    std::copy_n(&src.v[static_cast<size_t>(r * kW / 2)], kW / 2,
                fr.mutable_plane(2) + r * fr.stride(2));
  }
  EXPECT_EQ(bgr_of(view_of(fr)), bgr_of(src.view()));
}

TEST(ColourToGray, TakesTheYPlaneAndConvertsBgr) {
  const I420 src(kW + 4, kW / 2);
  std::vector<uint8_t> grey(static_cast<size_t>(kW * kH));
  ASSERT_TRUE(to_gray(src.view(), grey.data(), kW).ok());
  for (int r = 0; r < kH; ++r)
    for (int c = 0; c < kW; ++c)
      EXPECT_EQ(grey[static_cast<size_t>(r * kW + c)], src.y[static_cast<size_t>(r * src.ys + c)]);
  const std::vector<uint8_t> bgr(static_cast<size_t>(kW * kH * 3), 100);
  ASSERT_TRUE(to_gray(packed_view(PixelFormat::kBGR24, bgr, 3), grey.data(), kW).ok());
  for (uint8_t g : grey) EXPECT_EQ(g, 100);
}

TEST(ColourBgrToI420, RoundTripsWithinRounding) {
  std::vector<uint8_t> bgr(static_cast<size_t>(kW * kH * 3));
  for (size_t i = 0; i < bgr.size(); i += 3) {  // one colour: subsampled chroma loses nothing
    bgr[i] = 60;
    bgr[i + 1] = 120;
    bgr[i + 2] = 200;
  }
  std::vector<uint8_t> i420(static_cast<size_t>(kW * kH * 3 / 2));
  ASSERT_TRUE(bgr_to_i420(bgr.data(), kW, kH, kW * 3, i420.data()).ok());
  const auto back = bgr_of(packed_i420_view(i420));
  for (size_t i = 0; i < bgr.size(); ++i) EXPECT_LE(std::abs(back[i] - bgr[i]), 3) << i;
}

TEST(ColourErrors, NameWhatWasWrong) {
  std::vector<uint8_t> buf(1024);
  I420 src(kW, kW / 2);
  ImageView odd = src.view();
  odd.width = kW - 1;
  auto st = to_bgr(odd, buf.data(), kW * 3);
  ASSERT_FALSE(st.ok());
  EXPECT_EQ(st.error().code, "colour.bad_size");
  EXPECT_NE(st.error().message.find("odd size 15x8"), std::string::npos) << st.error().message;

  ImageView unknown = src.view();
  unknown.format = PixelFormat::kUnknown;
  EXPECT_EQ(to_bgr(unknown, buf.data(), kW * 3).error().code, "colour.unsupported");

  ImageView no_chroma = src.view();
  no_chroma.planes[2] = nullptr;
  EXPECT_EQ(to_bgr(no_chroma, buf.data(), kW * 3).error().code, "colour.bad_size");

  st = to_bgr(src.view(), buf.data(), kW * 3 - 1);
  ASSERT_FALSE(st.ok());
  EXPECT_NE(st.error().message.find("too short"), std::string::npos) << st.error().message;

  EXPECT_EQ(bgr_to_i420(buf.data(), 0, kH, kW * 3, buf.data()).error().code, "colour.bad_size");
  EXPECT_EQ(bgr_to_i420(buf.data(), kW, kH, kW, buf.data()).error().code, "colour.bad_size");
}

}  // namespace
}  // namespace orion::colour
