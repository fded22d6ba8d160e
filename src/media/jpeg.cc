#include "media/jpeg.h"

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

}  // namespace orion::media
