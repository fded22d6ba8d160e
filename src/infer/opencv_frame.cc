#include "infer/opencv_frame.h"

#include <opencv2/imgproc.hpp>

namespace orion::infer {

namespace {

Status check_frame(const Frame& f, const std::string& code) {
  if (f.memory_kind() != MemoryKind::kHost) {
    return make_error(code, "frame is in device memory; this detector reads host memory only");
  }
  const FrameLayout& l = f.layout();
  if (!l.valid() || f.data() == nullptr || f.width() <= 0 || f.height() <= 0) {
    return make_error(code, "frame is empty (no pixels or no valid layout)");
  }
  if (f.size() < l.size) {
    return make_error(code, "frame buffer (" + std::to_string(f.size()) +
                                " bytes) is smaller than its layout (" + std::to_string(l.size) +
                                " bytes)");
  }
  const bool yuv = l.format == PixelFormat::kI420 || l.format == PixelFormat::kNV12;
  if (yuv && (l.width % 2 != 0 || l.height % 2 != 0)) {
    return make_error(code, "frame is " + std::string(to_string(l.format)) + " with an odd size (" +
                                std::to_string(l.width) + "x" + std::to_string(l.height) +
                                "); only even sizes are supported");
  }
  return {};
}

cv::Mat plane(const Frame& f, int i, int rows, int cols, int type) {
  return cv::Mat(rows, cols, type, const_cast<uint8_t*>(f.plane(i)),
                 static_cast<size_t>(f.stride(i)));
}

}  // namespace

Result<cv::Mat> frame_to_bgr(const Frame& f, cv::Mat& scratch, const std::string& code) {
  if (auto st = check_frame(f, code); !st) return st.error();
  const int w = f.width(), h = f.height();
  switch (f.format()) {
    case PixelFormat::kBGR24:
      return plane(f, 0, h, w, CV_8UC3);
    case PixelFormat::kRGB24:
      cv::cvtColor(plane(f, 0, h, w, CV_8UC3), scratch, cv::COLOR_RGB2BGR);
      return scratch;
    case PixelFormat::kGray8:
      cv::cvtColor(plane(f, 0, h, w, CV_8UC1), scratch, cv::COLOR_GRAY2BGR);
      return scratch;
    case PixelFormat::kNV12:
      cv::cvtColorTwoPlane(plane(f, 0, h, w, CV_8UC1), plane(f, 1, h / 2, w / 2, CV_8UC2), scratch,
                           cv::COLOR_YUV2BGR_NV12);
      return scratch;
    case PixelFormat::kI420: {
      // OpenCV wants the three planes back to back without row padding.
      const FrameLayout packed = FrameLayout::packed(PixelFormat::kI420, w, h);
      const FrameLayout& l = f.layout();
      cv::Mat yuv;
      if (l.strides == packed.strides && l.offsets == packed.offsets) {
        yuv = cv::Mat(h * 3 / 2, w, CV_8UC1, const_cast<uint8_t*>(f.data()));
      } else {
        yuv.create(h * 3 / 2, w, CV_8UC1);
        plane(f, 0, h, w, CV_8UC1).copyTo(yuv.rowRange(0, h));
        // U and V: h/2 rows of w/2 bytes each, i.e. h/4 rows of w bytes in the packed buffer.
        cv::Mat u(h / 2, w / 2, CV_8UC1, yuv.ptr(h));
        cv::Mat v(h / 2, w / 2, CV_8UC1, yuv.ptr(h) + static_cast<size_t>(w / 2) * (h / 2));
        plane(f, 1, h / 2, w / 2, CV_8UC1).copyTo(u);
        plane(f, 2, h / 2, w / 2, CV_8UC1).copyTo(v);
      }
      cv::cvtColor(yuv, scratch, cv::COLOR_YUV2BGR_I420);
      return scratch;
    }
    case PixelFormat::kUnknown:
      break;
  }
  return make_error(code, "unsupported pixel format " + std::string(to_string(f.format())) +
                              " (supported: BGR, RGB, GRAY8, I420, NV12)");
}

Result<cv::Mat> frame_to_gray(const Frame& f, cv::Mat& scratch, const std::string& code) {
  if (auto st = check_frame(f, code); !st) return st.error();
  const int w = f.width(), h = f.height();
  switch (f.format()) {
    case PixelFormat::kGray8:
    case PixelFormat::kI420:
    case PixelFormat::kNV12:
      return plane(f, 0, h, w, CV_8UC1);
    case PixelFormat::kBGR24:
      cv::cvtColor(plane(f, 0, h, w, CV_8UC3), scratch, cv::COLOR_BGR2GRAY);
      return scratch;
    case PixelFormat::kRGB24:
      cv::cvtColor(plane(f, 0, h, w, CV_8UC3), scratch, cv::COLOR_RGB2GRAY);
      return scratch;
    case PixelFormat::kUnknown:
      break;
  }
  return make_error(code, "unsupported pixel format " + std::string(to_string(f.format())) +
                              " (supported: BGR, RGB, GRAY8, I420, NV12)");
}

}  // namespace orion::infer
