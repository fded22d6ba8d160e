#include "infer/image_io.h"

#include <cmath>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>

#include "core/frame_pool.h"
#include "infer/opencv_frame.h"

namespace orion::infer {

Result<FramePtr> load_image(const std::string& path) {
  std::error_code ec;
  if (!std::filesystem::is_regular_file(path, ec)) {
    return make_error("image.not_found", "image file '" + path + "' does not exist");
  }
  cv::Mat img;
  try {
    img = cv::imread(path, cv::IMREAD_COLOR);
  } catch (const cv::Exception& e) {
    return make_error("image.unreadable", "cannot decode image '" + path + "': " + e.what());
  }
  if (img.empty()) {
    return make_error("image.unreadable",
                      "cannot decode image '" + path + "' (not an image format OpenCV reads)");
  }
  HeapFramePool pool;
  auto frame = pool.acquire(FrameLayout::packed(PixelFormat::kBGR24, img.cols, img.rows));
  if (!frame) return frame.error();
  Frame& f = **frame;
  for (int y = 0; y < img.rows; ++y) {
    std::memcpy(f.mutable_plane(0) + static_cast<size_t>(y) * static_cast<size_t>(f.stride(0)),
                img.ptr(y), static_cast<size_t>(img.cols) * 3);
  }
  return freeze(std::move(*frame));
}

namespace {

cv::Scalar colour_of(int class_id) {
  // A fixed, well-spread palette (BGR), so a class keeps its colour across frames.
  static const cv::Scalar palette[] = {
      {56, 56, 255}, {151, 157, 255}, {31, 112, 255},  {29, 178, 255}, {49, 210, 207},
      {10, 249, 72}, {23, 204, 146},  {134, 219, 61},  {211, 188, 0},  {209, 85, 0},
      {255, 194, 0}, {147, 69, 52},   {255, 115, 100}, {236, 24, 0},   {255, 56, 132},
      {133, 0, 82},  {255, 56, 203},  {200, 149, 255}, {199, 55, 255}, {255, 255, 255}};
  const size_t n = sizeof(palette) / sizeof(palette[0]);
  return palette[static_cast<size_t>(class_id < 0 ? 0 : class_id) % n];
}

}  // namespace

Status write_annotated_image(const std::string& path, const Frame& frame,
                             const std::vector<Detection>& detections) {
  cv::Mat scratch, out;
  try {
    auto bgr = frame_to_bgr(frame, scratch, "image.unsupported_frame");
    if (!bgr) return bgr.error();
    out = bgr->clone();
    const int thick =
        std::max(2, static_cast<int>(std::lround(std::max(out.cols, out.rows) / 400.0)));
    const double font = std::max(0.5, thick / 3.0);
    for (const Detection& d : detections) {
      const cv::Scalar c = colour_of(d.class_id);
      const cv::Point p1(static_cast<int>(d.box.x1), static_cast<int>(d.box.y1));
      const cv::Point p2(static_cast<int>(d.box.x2), static_cast<int>(d.box.y2));
      cv::rectangle(out, p1, p2, c, thick, cv::LINE_AA);
      char label[96];
      std::snprintf(label, sizeof label, "%s %.2f", d.class_name.c_str(), d.score);
      int base = 0;
      const cv::Size ts =
          cv::getTextSize(label, cv::FONT_HERSHEY_SIMPLEX, font, thick / 2 + 1, &base);
      const int top = p1.y - ts.height - base >= 0 ? p1.y - ts.height - base : p1.y;
      cv::rectangle(out, cv::Point(p1.x, top), cv::Point(p1.x + ts.width, top + ts.height + base),
                    c, cv::FILLED);
      cv::putText(out, label, cv::Point(p1.x, top + ts.height), cv::FONT_HERSHEY_SIMPLEX, font,
                  cv::Scalar(255, 255, 255), thick / 2 + 1, cv::LINE_AA);
    }
    if (!cv::imwrite(path, out)) {
      return make_error("image.write_failed", "cannot write image '" + path + "'");
    }
  } catch (const cv::Exception& e) {
    return make_error("image.write_failed", "cannot write image '" + path + "': " + e.what());
  }
  return {};
}

namespace {

std::string json_string(const std::string& s) {
  std::string out = "\"";
  for (char ch : s) {
    const auto c = static_cast<unsigned char>(ch);
    switch (ch) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\r':
        out += "\\r";
        break;
      case '\t':
        out += "\\t";
        break;
      default:
        if (c < 0x20) {
          char buf[8];
          std::snprintf(buf, sizeof buf, "\\u%04x", c);
          out += buf;
        } else {
          out += ch;
        }
    }
  }
  return out + "\"";
}

std::string num(double v, int decimals) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.*f", decimals, v);
  return buf;
}

}  // namespace

std::string detections_to_json(const std::vector<Detection>& detections, int indent) {
  const std::string pad(static_cast<size_t>(std::max(0, indent)), ' ');
  const std::string nl = indent > 0 ? "\n" : "";
  std::string out = "[";
  for (size_t i = 0; i < detections.size(); ++i) {
    const Detection& d = detections[i];
    out += (i ? "," : "") + nl + pad + "{\"class_id\": " + std::to_string(d.class_id) +
           ", \"class_name\": " + json_string(d.class_name) + ", \"score\": " + num(d.score, 4) +
           ", \"box\": [" + num(d.box.x1, 1) + ", " + num(d.box.y1, 1) + ", " + num(d.box.x2, 1) +
           ", " + num(d.box.y2, 1) + "]}";
  }
  return out + (detections.empty() ? "" : nl) + "]";
}

}  // namespace orion::infer
