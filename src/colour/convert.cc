#include "colour/convert.h"

#include <cstring>
#include <opencv2/imgproc.hpp>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace orion::colour {

namespace {

// The size rules of `format`: not empty; even for the 4:2:0 formats.
Status check_size(PixelFormat format, int width, int height) {
  if (width <= 0 || height <= 0)
    return make_error("colour.bad_size", "image is empty (" + std::to_string(width) + "x" +
                                             std::to_string(height) + ")");
  const bool yuv = format == PixelFormat::kI420 || format == PixelFormat::kNV12;
  if (yuv && (width % 2 != 0 || height % 2 != 0))
    return make_error("colour.bad_size", std::string(to_string(format)) + " image of odd size " +
                                             std::to_string(width) + "x" + std::to_string(height) +
                                             "; crop it to even first");
  return {};
}

Status check(const ImageView& v, int dst_stride, int dst_channels) {
  if (v.format == PixelFormat::kUnknown)
    return make_error("colour.unsupported", "image has an unknown pixel format");
  if (auto st = check_size(v.format, v.width, v.height); !st) return st;
  const int planes = v.format == PixelFormat::kI420 ? 3 : v.format == PixelFormat::kNV12 ? 2 : 1;
  for (int i = 0; i < planes; ++i) {
    if (v.planes[static_cast<size_t>(i)] == nullptr)
      return make_error("colour.bad_size", std::string(to_string(v.format)) +
                                               " image lacks plane " + std::to_string(i));
  }
  if (dst_stride < v.width * dst_channels)
    return make_error("colour.bad_size", "destination rows of " + std::to_string(dst_stride) +
                                             " bytes are too short for " + std::to_string(v.width) +
                                             " pixels");
  return {};
}

// OpenCV writes into a Mat over the caller's memory only if it has the size and type the
// conversion produces; otherwise it would allocate silently. Checked after every conversion.
Status landed(const cv::Mat& out, const uint8_t* dst, std::string_view what) {
  if (out.data == dst) return {};
  return make_error("colour.failed",
                    std::string(what) + ": the result did not land in the destination");
}

cv::Mat plane(const ImageView& v, int i, int rows, int cols, int type) {
  return cv::Mat(rows, cols, type, const_cast<uint8_t*>(v.planes[static_cast<size_t>(i)]),
                 static_cast<size_t>(v.strides[static_cast<size_t>(i)]));
}

void copy_rows(const uint8_t* src, int src_stride, uint8_t* dst, int dst_stride, int row_bytes,
               int rows) {
  for (int r = 0; r < rows; ++r)
    std::memcpy(dst + static_cast<size_t>(r) * static_cast<size_t>(dst_stride),
                src + static_cast<size_t>(r) * static_cast<size_t>(src_stride),
                static_cast<size_t>(row_bytes));
}

// OpenCV reads I420 as one buffer of h*3/2 rows: Y, U, V back to back without row padding.
// A view already laid out that way is used in place; any other is repacked.
cv::Mat packed_i420(const ImageView& v) {
  const int w = v.width, h = v.height;
  const size_t ysz = static_cast<size_t>(w) * static_cast<size_t>(h);
  const bool packed = v.strides[0] == w && v.strides[1] == w / 2 && v.strides[2] == w / 2 &&
                      v.planes[1] == v.planes[0] + ysz && v.planes[2] == v.planes[1] + ysz / 4;
  if (packed) return plane(v, 0, h * 3 / 2, w, CV_8UC1);
  thread_local std::vector<uint8_t> repacked;
  repacked.resize(ysz * 3 / 2);
  uint8_t* y = repacked.data();
  uint8_t* u = y + ysz;
  uint8_t* vv = u + ysz / 4;
  copy_rows(v.planes[0], v.strides[0], y, w, w, h);
  copy_rows(v.planes[1], v.strides[1], u, w / 2, w / 2, h / 2);
  copy_rows(v.planes[2], v.strides[2], vv, w / 2, w / 2, h / 2);
  return cv::Mat(h * 3 / 2, w, CV_8UC1, repacked.data());
}

enum class Target { kBgr, kGrey };

// The conversion table: how `from` becomes `to`. kCopy: the rows are copied (the format is
// already the target, or its first plane is the luminance); -1: not supported.
constexpr int kCopy = -2;
int conversion(PixelFormat from, Target to) {
  const bool bgr = to == Target::kBgr;
  switch (from) {
    case PixelFormat::kBGR24:
      return bgr ? kCopy : cv::COLOR_BGR2GRAY;
    case PixelFormat::kRGB24:
      return bgr ? cv::COLOR_RGB2BGR : cv::COLOR_RGB2GRAY;
    case PixelFormat::kGray8:
      return bgr ? cv::COLOR_GRAY2BGR : kCopy;
    case PixelFormat::kNV12:
      return bgr ? cv::COLOR_YUV2BGR_NV12 : kCopy;
    case PixelFormat::kI420:
      return bgr ? cv::COLOR_YUV2BGR_I420 : kCopy;
    case PixelFormat::kUnknown:
      break;
  }
  return -1;
}

Status convert(const ImageView& v, Target to, uint8_t* dst, int dst_stride) {
  const int out_channels = to == Target::kBgr ? 3 : 1;
  if (auto st = check(v, dst_stride, out_channels); !st) return st;
  const std::string what =
      std::string(to_string(v.format)) + (to == Target::kBgr ? " to BGR" : " to grey");
  const int code = conversion(v.format, to);
  if (code == -1) return make_error("colour.unsupported", "cannot convert " + what);
  const int w = v.width, h = v.height;
  if (code == kCopy) {
    copy_rows(v.planes[0], v.strides[0], dst, dst_stride, w * out_channels, h);
    return {};
  }
  try {
    cv::Mat out(h, w, to == Target::kBgr ? CV_8UC3 : CV_8UC1, dst, static_cast<size_t>(dst_stride));
    if (v.format == PixelFormat::kNV12) {
      cv::cvtColorTwoPlane(plane(v, 0, h, w, CV_8UC1), plane(v, 1, h / 2, w / 2, CV_8UC2), out,
                           code);
    } else if (v.format == PixelFormat::kI420) {
      cv::cvtColor(packed_i420(v), out, code);
    } else {
      const bool colour_in = v.format == PixelFormat::kBGR24 || v.format == PixelFormat::kRGB24;
      cv::cvtColor(plane(v, 0, h, w, colour_in ? CV_8UC3 : CV_8UC1), out, code);
    }
    return landed(out, dst, what);
  } catch (const cv::Exception& e) {  // a third-party call: its failure is an error result
    return make_error("colour.failed", what + " failed: " + e.what());
  }
}

}  // namespace

ImageView view_of(const Frame& f) {
  ImageView v;
  v.format = f.format();
  v.width = f.width();
  v.height = f.height();
  for (int i = 0; i < f.layout().plane_count && i < 3; ++i) {
    v.planes[static_cast<size_t>(i)] = f.plane(i);
    v.strides[static_cast<size_t>(i)] = f.stride(i);
  }
  return v;
}

Status to_bgr(const ImageView& v, uint8_t* dst, int dst_stride) {
  return convert(v, Target::kBgr, dst, dst_stride);
}

Status to_gray(const ImageView& v, uint8_t* dst, int dst_stride) {
  return convert(v, Target::kGrey, dst, dst_stride);
}

Status bgr_to_i420(const uint8_t* bgr, int width, int height, int stride, uint8_t* dst) {
  if (auto st = check_size(PixelFormat::kI420, width, height); !st) return st;
  if (stride < width * 3)
    return make_error("colour.bad_size", "BGR rows of " + std::to_string(stride) +
                                             " bytes are too short for " + std::to_string(width) +
                                             " pixels");
  try {
    const cv::Mat in(height, width, CV_8UC3, const_cast<uint8_t*>(bgr),
                     static_cast<size_t>(stride));
    cv::Mat out(height * 3 / 2, width, CV_8UC1, dst);
    cv::cvtColor(in, out, cv::COLOR_BGR2YUV_I420);
    return landed(out, dst, "BGR to I420");
  } catch (const cv::Exception& e) {
    return make_error("colour.failed", std::string("BGR to I420 failed: ") + e.what());
  }
}

Status to_i420(const ImageView& v, uint8_t* dst) {
  if (v.format == PixelFormat::kBGR24)
    return bgr_to_i420(v.planes[0], v.width, v.height, v.strides[0], dst);
  if (v.format != PixelFormat::kI420 && v.format != PixelFormat::kNV12)
    return make_error("colour.unsupported",
                      "cannot convert " + std::string(to_string(v.format)) + " to I420");
  if (auto st = check(v, v.width, 1); !st) return st;
  const int w = v.width, h = v.height, cw = w / 2, ch = h / 2;
  uint8_t* y = dst;
  uint8_t* u = y + static_cast<size_t>(w) * static_cast<size_t>(h);
  uint8_t* vv = u + static_cast<size_t>(cw) * static_cast<size_t>(ch);
  copy_rows(v.planes[0], v.strides[0], y, w, w, h);
  if (v.format == PixelFormat::kI420) {
    copy_rows(v.planes[1], v.strides[1], u, cw, cw, ch);
    copy_rows(v.planes[2], v.strides[2], vv, cw, cw, ch);
    return {};
  }
  for (int r = 0; r < ch; ++r) {
    const uint8_t* uv = v.planes[1] + static_cast<size_t>(r) * static_cast<size_t>(v.strides[1]);
    uint8_t* ur = u + static_cast<size_t>(r) * static_cast<size_t>(cw);
    uint8_t* vr = vv + static_cast<size_t>(r) * static_cast<size_t>(cw);
    for (int c = 0; c < cw; ++c) {
      ur[c] = uv[2 * c];
      vr[c] = uv[2 * c + 1];
    }
  }
  return {};
}

Status copy_image(const ImageView& v, const FrameLayout& layout, uint8_t* dst) {
  if (v.format == PixelFormat::kUnknown)
    return make_error("colour.unsupported", "image has an unknown pixel format");
  if (layout.format != v.format || layout.width != v.width || layout.height != v.height)
    return make_error(
        "colour.bad_size",
        "cannot copy a " + std::string(to_string(v.format)) + " " + std::to_string(v.width) + "x" +
            std::to_string(v.height) + " image into a " + std::string(to_string(layout.format)) +
            " " + std::to_string(layout.width) + "x" + std::to_string(layout.height) + " layout");
  const int bpp = v.format == PixelFormat::kBGR24 || v.format == PixelFormat::kRGB24 ? 3 : 1;
  if (auto st = check(v, layout.strides[0], bpp); !st) return st;
  const int w = v.width, h = v.height;
  auto row_of = [&](int plane) -> std::pair<int, int> {  // bytes per row, rows
    if (plane == 0) return {w * bpp, h};
    if (v.format == PixelFormat::kNV12) return {w, h / 2};
    return {w / 2, h / 2};
  };
  for (int i = 0; i < layout.plane_count; ++i) {
    const auto [bytes, rows] = row_of(i);
    const auto k = static_cast<size_t>(i);
    if (layout.strides[k] < bytes)
      return make_error("colour.bad_size",
                        "destination plane " + std::to_string(i) + " rows are too short");
    copy_rows(v.planes[k], v.strides[k], dst + layout.offsets[k], layout.strides[k], bytes, rows);
  }
  return {};
}

}  // namespace orion::colour
