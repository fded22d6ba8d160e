// encode_jpeg, checked by decoding its output with OpenCV: the size is kept and the pixels come
// back close to what was given; bad input is an error naming what was wrong.
#include "media/jpeg.h"

#include <gtest/gtest.h>

#include <cstdlib>
#include <opencv2/core.hpp>
#include <opencv2/imgcodecs.hpp>
#include <vector>

namespace orion::media {
namespace {

// A smooth BGR picture (gradients and a flat block), rows `stride` bytes apart; the padding
// past width * 3 is filled with 0xEE so a reader that strays into it shows.
std::vector<uint8_t> picture(int w, int h, int stride) {
  std::vector<uint8_t> px(static_cast<size_t>(stride) * static_cast<size_t>(h), 0xEE);
  for (int y = 0; y < h; ++y) {
    for (int x = 0; x < w; ++x) {
      uint8_t* p = &px[static_cast<size_t>(y * stride + x * 3)];
      const bool block = x > w / 2 && y > h / 2;
      p[0] = block ? 40 : static_cast<uint8_t>(x * 255 / w);
      p[1] = block ? 200 : static_cast<uint8_t>(y * 255 / h);
      p[2] = block ? 120 : static_cast<uint8_t>(((x + y) * 255) / (w + h));
    }
  }
  return px;
}

// Mean absolute difference per channel value between the decoded JPEG and the source.
double mean_error(const cv::Mat& decoded, const std::vector<uint8_t>& src, int stride) {
  double sum = 0;
  for (int y = 0; y < decoded.rows; ++y) {
    for (int x = 0; x < decoded.cols * 3; ++x) {
      sum +=
          std::abs(int(decoded.ptr<uint8_t>(y)[x]) - int(src[static_cast<size_t>(y * stride + x)]));
    }
  }
  return sum / (decoded.rows * decoded.cols * 3.0);
}

cv::Mat decode(const std::string& jpeg) {
  const std::vector<uint8_t> bytes(jpeg.begin(), jpeg.end());
  return cv::imdecode(bytes, cv::IMREAD_COLOR);
}

TEST(Jpeg, RoundTripKeepsTheSizeAndThePixelsClose) {
  constexpr int kW = 320, kH = 240;
  const auto src = picture(kW, kH, kW * 3);
  auto jpeg = encode_jpeg(BgrImage{src.data(), kW, kH, kW * 3}, 90);
  ASSERT_TRUE(jpeg.ok()) << jpeg.error().to_string();
  // A JPEG file: SOI marker first, EOI last; much smaller than the raw picture.
  ASSERT_GT(jpeg->size(), 4u);
  EXPECT_EQ(static_cast<uint8_t>((*jpeg)[0]), 0xFF);
  EXPECT_EQ(static_cast<uint8_t>((*jpeg)[1]), 0xD8);
  EXPECT_EQ(static_cast<uint8_t>((*jpeg)[jpeg->size() - 2]), 0xFF);
  EXPECT_EQ(static_cast<uint8_t>((*jpeg)[jpeg->size() - 1]), 0xD9);
  EXPECT_LT(jpeg->size(), src.size() / 4);

  const cv::Mat back = decode(*jpeg);
  ASSERT_FALSE(back.empty());
  EXPECT_EQ(back.cols, kW);
  EXPECT_EQ(back.rows, kH);
  EXPECT_EQ(back.type(), CV_8UC3);
  EXPECT_LT(mean_error(back, src, kW * 3), 3.0);
  // The flat block keeps its colour (B, G, R in that order: channels are not swapped).
  const uint8_t* mid = back.ptr<uint8_t>(kH * 3 / 4) + (kW * 3 / 4) * 3;
  EXPECT_NEAR(mid[0], 40, 6);
  EXPECT_NEAR(mid[1], 200, 6);
  EXPECT_NEAR(mid[2], 120, 6);
}

TEST(Jpeg, ReadsRowsByTheirStrideAndLowerQualityIsSmaller) {
  constexpr int kW = 100, kH = 60, kStride = 100 * 3 + 52;
  const auto src = picture(kW, kH, kStride);
  auto fine = encode_jpeg(BgrImage{src.data(), kW, kH, kStride}, 95);
  auto coarse = encode_jpeg(BgrImage{src.data(), kW, kH, kStride}, 10);
  ASSERT_TRUE(fine.ok()) << fine.error().to_string();
  ASSERT_TRUE(coarse.ok()) << coarse.error().to_string();
  EXPECT_LT(coarse->size(), fine->size());
  const cv::Mat back = decode(*fine);
  ASSERT_EQ(back.cols, kW);
  ASSERT_EQ(back.rows, kH);
  EXPECT_LT(mean_error(back, src, kStride), 3.0);  // the 0xEE padding never shows
}

TEST(Jpeg, BadInputIsAnErrorThatSaysWhatWasWrong) {
  const auto src = picture(8, 8, 24);
  auto no_data = encode_jpeg(BgrImage{nullptr, 8, 8, 24}, 80);
  ASSERT_FALSE(no_data.ok());
  EXPECT_EQ(no_data.error().code, "jpeg.bad_image");
  EXPECT_NE(no_data.error().message.find("no pixels"), std::string::npos);
  auto zero = encode_jpeg(BgrImage{src.data(), 0, 8, 24}, 80);
  ASSERT_FALSE(zero.ok());
  EXPECT_EQ(zero.error().code, "jpeg.bad_image");
  EXPECT_NE(zero.error().message.find("0x8"), std::string::npos) << zero.error().message;
  auto short_rows = encode_jpeg(BgrImage{src.data(), 8, 8, 23}, 80);
  ASSERT_FALSE(short_rows.ok());
  EXPECT_EQ(short_rows.error().code, "jpeg.bad_image");
  EXPECT_NE(short_rows.error().message.find("stride 23"), std::string::npos);
  for (int q : {0, 101, -5}) {
    auto bad_q = encode_jpeg(BgrImage{src.data(), 8, 8, 24}, q);
    ASSERT_FALSE(bad_q.ok()) << q;
    EXPECT_EQ(bad_q.error().code, "jpeg.bad_quality");
    EXPECT_NE(bad_q.error().message.find(std::to_string(q)), std::string::npos);
  }
}

}  // namespace
}  // namespace orion::media
