#include "infer/opencv_frame.h"

#include "colour/convert.h"

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

Error conversion_error(const std::string& code, const Error& e) {
  return make_error(code, e.message + (e.code == "colour.unsupported"
                                           ? " (supported: BGR, RGB, GRAY8, I420, NV12)"
                                           : ""));
}

}  // namespace

Result<cv::Mat> frame_to_bgr(const Frame& f, cv::Mat& scratch, const std::string& code) {
  if (auto st = check_frame(f, code); !st) return st.error();
  const int w = f.width(), h = f.height();
  if (f.format() == PixelFormat::kBGR24) return plane(f, 0, h, w, CV_8UC3);  // in place
  scratch.create(h, w, CV_8UC3);
  if (auto st = colour::to_bgr(colour::view_of(f), scratch.data, static_cast<int>(scratch.step));
      !st)
    return conversion_error(code, st.error());
  return scratch;
}

Result<cv::Mat> frame_to_gray(const Frame& f, cv::Mat& scratch, const std::string& code) {
  if (auto st = check_frame(f, code); !st) return st.error();
  const int w = f.width(), h = f.height();
  switch (f.format()) {
    case PixelFormat::kGray8:
    case PixelFormat::kI420:
    case PixelFormat::kNV12:
      return plane(f, 0, h, w, CV_8UC1);  // the luminance plane, in place
    default:
      break;
  }
  scratch.create(h, w, CV_8UC1);
  if (auto st = colour::to_gray(colour::view_of(f), scratch.data, static_cast<int>(scratch.step));
      !st)
    return conversion_error(code, st.error());
  return scratch;
}

}  // namespace orion::infer
