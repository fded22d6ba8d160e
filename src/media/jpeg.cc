#include "media/jpeg.h"

#include <cstdint>
#include <opencv2/core.hpp>
#include <opencv2/imgcodecs.hpp>
#include <vector>

namespace orion::media {

Result<std::string> encode_jpeg(const BgrImage& image, int quality) {
  if (image.data == nullptr || image.width <= 0 || image.height <= 0 ||
      image.stride < image.width * 3) {
    return make_error("jpeg.bad_image", "cannot encode a " + std::to_string(image.width) + "x" +
                                            std::to_string(image.height) +
                                            " BGR picture with stride " +
                                            std::to_string(image.stride) +
                                            (image.data == nullptr ? " and no pixels" : "") +
                                            " (sides must be positive, stride at least width * 3)");
  }
  if (quality < 1 || quality > 100) {
    return make_error("jpeg.bad_quality",
                      "JPEG quality " + std::to_string(quality) + " is outside 1..100");
  }
  // cv::Mat takes a non-const pointer; imencode only reads through it.
  const cv::Mat mat(image.height, image.width, CV_8UC3, const_cast<uint8_t*>(image.data),
                    static_cast<size_t>(image.stride));
  std::vector<uchar> out;
  try {
    if (!cv::imencode(".jpg", mat, out, {cv::IMWRITE_JPEG_QUALITY, quality})) {
      return make_error("jpeg.failed", "OpenCV's JPEG encoder refused the picture");
    }
  } catch (const cv::Exception& e) {
    return make_error("jpeg.failed", std::string("OpenCV's JPEG encoder failed: ") + e.what());
  }
  return std::string(out.begin(), out.end());
}

Result<std::string> encode_jpeg(const Picture& picture, int quality) {
  if (picture.format == PixelFormat::kBGR24)
    return encode_jpeg(
        BgrImage{picture.planes[0], picture.width, picture.height, picture.strides[0]}, quality);
  if (picture.width <= 0 || picture.height <= 0)
    return encode_jpeg(BgrImage{nullptr, picture.width, picture.height, 0}, quality);  // its error
  const int row = picture.width * 3;
  std::vector<uint8_t> bgr(static_cast<size_t>(row) * static_cast<size_t>(picture.height));
  if (auto st = colour::to_bgr(picture, bgr.data(), row); !st) return st.error();
  return encode_jpeg(BgrImage{bgr.data(), picture.width, picture.height, row}, quality);
}

}  // namespace orion::media
