#include "media/overlay.h"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <ctime>
#include <functional>
#include <opencv2/imgproc.hpp>
#include <utility>
#include <vector>

#include "core/clock.h"

namespace orion::media {

namespace {

cv::Scalar colour_for(const std::string& key) {
  const size_t h = std::hash<std::string>{}(key);
  static const cv::Scalar kPalette[] = {{0, 255, 0},   {0, 200, 255}, {255, 128, 0}, {255, 0, 255},
                                        {0, 255, 255}, {128, 128, 255}, {255, 255, 0}};
  return kPalette[h % (sizeof(kPalette) / sizeof(kPalette[0]))];
}

// Draws on a BGR24 picture.
class BgrPainter {
 public:
  explicit BgrPainter(cv::Mat img) : img_(std::move(img)) {}
  void box(cv::Point p1, cv::Point p2, const cv::Scalar& c) { cv::rectangle(img_, p1, p2, c, 2); }
  void fill(cv::Point p1, cv::Point p2, const cv::Scalar& c) {
    cv::rectangle(img_, p1, p2, c, cv::FILLED);
  }
  void text(const std::string& t, cv::Point org, double scale, const cv::Scalar& c) {
    cv::putText(img_, t, org, cv::FONT_HERSHEY_SIMPLEX, scale, c, 1, cv::LINE_AA);
  }

 private:
  cv::Mat img_;
};

// Draws on a 4:2:0 picture (I420 or NV12) what BgrPainter draws on BGR: see overlay.h.
class YuvPainter {
 public:
  explicit YuvPainter(const YuvPicture& p) : width_(p.width), height_(p.height) {
    y_ = cv::Mat(p.height, p.width, CV_8UC1, p.planes[0], static_cast<size_t>(p.strides[0]));
    const int cw = p.width / 2, ch = p.height / 2;
    if (p.format == PixelFormat::kNV12) {
      chroma_.emplace_back(ch, cw, CV_8UC2, p.planes[1], static_cast<size_t>(p.strides[1]));
    } else {
      chroma_.emplace_back(ch, cw, CV_8UC1, p.planes[1], static_cast<size_t>(p.strides[1]));
      chroma_.emplace_back(ch, cw, CV_8UC1, p.planes[2], static_cast<size_t>(p.strides[2]));
    }
  }
  void box(cv::Point p1, cv::Point p2, const cv::Scalar& c) {
    const Yuv v = yuv_of(c);
    cv::rectangle(y_, p1, p2, cv::Scalar(v.y), 2);
    for (size_t i = 0; i < chroma_.size(); ++i)
      cv::rectangle(chroma_[i], half(p1), half(p2), chroma(v, i), 1);
  }
  void fill(cv::Point p1, cv::Point p2, const cv::Scalar& c) {
    const Yuv v = yuv_of(c);
    cv::rectangle(y_, p1, p2, cv::Scalar(v.y), cv::FILLED);
    for (size_t i = 0; i < chroma_.size(); ++i)
      cv::rectangle(chroma_[i], half(p1), half(p2), chroma(v, i), cv::FILLED);
  }
  void text(const std::string& t, cv::Point org, double scale, const cv::Scalar& c) {
    int base = 0;
    const cv::Size sz = cv::getTextSize(t, cv::FONT_HERSHEY_SIMPLEX, scale, 1, &base);
    // The text's cell, grown by a margin for anti-aliasing, on even coordinates, in the picture.
    const int x0 = std::max(0, (org.x - 2) & ~1), y0 = std::max(0, (org.y - sz.height - 4) & ~1);
    const int x1 = std::min(width_ & ~1, (org.x + sz.width + 4) & ~1);
    const int y1 = std::min(height_ & ~1, (org.y + base + 4) & ~1);
    if (x1 <= x0 || y1 <= y0) return;
    const cv::Rect cell(x0, y0, x1 - x0, y1 - y0);
    cv::Mat mask = cv::Mat::zeros(cell.size(), CV_8UC1);
    cv::putText(mask, t, org - cell.tl(), cv::FONT_HERSHEY_SIMPLEX, scale, cv::Scalar(255), 1,
                cv::LINE_AA);
    const Yuv v = yuv_of(c);
    blend(y_(cell), mask, cv::Scalar(v.y));
    cv::Mat half_mask;
    cv::resize(mask, half_mask, cv::Size(cell.width / 2, cell.height / 2), 0, 0, cv::INTER_AREA);
    const cv::Rect half_cell(cell.x / 2, cell.y / 2, cell.width / 2, cell.height / 2);
    for (size_t i = 0; i < chroma_.size(); ++i)
      blend(chroma_[i](half_cell), half_mask, chroma(v, i));
  }

 private:
  struct Yuv {
    double y, u, v;
  };
  // The YUV of a BGR colour as OpenCV's BGR → I420 conversion (the encoder input before
  // ADR 0080) computes it for a uniform area.
  static Yuv yuv_of(const cv::Scalar& bgr) {
    const cv::Mat px(2, 2, CV_8UC3, bgr);
    cv::Mat out;
    cv::cvtColor(px, out, cv::COLOR_BGR2YUV_I420);
    const uint8_t* d = out.ptr<uint8_t>(0);
    return {static_cast<double>(d[0]), static_cast<double>(d[4]), static_cast<double>(d[5])};
  }
  cv::Scalar chroma(const Yuv& v, size_t plane) const {
    if (chroma_.size() == 1) return cv::Scalar(v.u, v.v);  // NV12: U, V interleaved
    return cv::Scalar(plane == 0 ? v.u : v.v);
  }
  static cv::Point half(cv::Point p) { return cv::Point(p.x / 2, p.y / 2); }
  // dst = dst + (value - dst) * mask / 255, per channel (1 or 2 channels).
  static void blend(cv::Mat dst, const cv::Mat& mask, const cv::Scalar& value) {
    const int cn = dst.channels();
    for (int r = 0; r < dst.rows; ++r) {
      uint8_t* d = dst.ptr<uint8_t>(r);
      const uint8_t* m = mask.ptr<uint8_t>(r);
      for (int x = 0; x < dst.cols; ++x) {
        const int a = m[x];
        if (a == 0) continue;
        for (int k = 0; k < cn; ++k) {
          uint8_t& px = d[x * cn + k];
          const int target = static_cast<int>(value[k]);
          px = static_cast<uint8_t>(px + ((target - px) * a + (target >= px ? 127 : -127)) / 255);
        }
      }
    }
  }

  int width_, height_;
  cv::Mat y_;
  std::vector<cv::Mat> chroma_;
};

template <typename Painter>
void label(Painter& img, const std::string& text, cv::Point org, double scale,
           const cv::Scalar& fg) {
  int base = 0;
  const cv::Size sz = cv::getTextSize(text, cv::FONT_HERSHEY_SIMPLEX, scale, 1, &base);
  img.fill(cv::Point(org.x, org.y - sz.height - 3), cv::Point(org.x + sz.width + 4, org.y + base),
           cv::Scalar(0, 0, 0));
  img.text(text, cv::Point(org.x + 2, org.y - 1), scale, fg);
}

// At most this many boxes of one result are drawn (the compositor thread draws every frame).
constexpr size_t kMaxBoxesDrawnPerResult = 256;

// A box corner in pixels, inside the picture whatever the float was (NaN → 0).
cv::Point to_pixel(float x, float y, int width, int height) {
  auto clamp = [](float v, int hi) {
    if (!(v > 0.0f)) return 0;  // negative or NaN
    return v >= static_cast<float>(hi) ? hi : static_cast<int>(v);
  };
  return cv::Point(clamp(x, std::max(0, width - 1)), clamp(y, std::max(0, height - 1)));
}

int block_size(int width) {
  int b = std::max(4, width / 40);
  return b - (b % 2);
}

uint32_t check_bits(uint32_t seq24) {
  return ((seq24 & 0xFF) ^ ((seq24 >> 8) & 0xFF) ^ ((seq24 >> 16) & 0xFF) ^ 0x5A) & 0xFF;
}

}  // namespace

namespace {

template <typename Painter>
void draw_overlay_with(Painter& img, int width, int height, const OverlayText& text,
                       const std::vector<DetectionResult>& results) {
  const double scale = std::clamp(width / 1280.0, 0.35, 0.8);
  for (const auto& r : results) {
    const cv::Scalar c = colour_for(r.pipeline);
    size_t drawn = 0;
    for (const auto& d : r.detections) {
      // Results come from workers: the supervisor has clamped and capped them already, and the
      // drawing does not rely on it (a float → int cast of 1e30 or NaN is undefined behaviour).
      if (++drawn > kMaxBoxesDrawnPerResult) break;
      const cv::Point p1 = to_pixel(d.box.x1, d.box.y1, width, height);
      const cv::Point p2 = to_pixel(d.box.x2, d.box.y2, width, height);
      img.box(p1, p2, c);
      // Class and score on the box; the box's colour is its pipeline's, named (with the
      // result's age) in the legend under the header.
      char buf[160];
      std::snprintf(buf, sizeof buf, "%s %.2f", d.class_name.empty() ? std::to_string(d.class_id).c_str()
                                                                     : d.class_name.c_str(),
                    static_cast<double>(d.score));
      label(img, buf, cv::Point(p1.x, std::max(p1.y, 14)), scale, c);
    }
  }
  char head[200];
  std::snprintf(head, sizeof head, "%s  %s  %.1f fps  #%llu", text.stream.c_str(), text.capture_time.c_str(), text.fps,
                static_cast<unsigned long long>(text.sequence));
  const int y = block_size(width) + static_cast<int>(22 * scale / 0.5);
  label(img, head, cv::Point(4, y), scale, cv::Scalar(255, 255, 255));
  int line = y;
  for (const auto& r : results) {
    line += static_cast<int>(20 * scale / 0.5);
    char info[200];
    const int64_t age = static_cast<int64_t>(text.sequence) - static_cast<int64_t>(r.frame.sequence);
    std::snprintf(info, sizeof info, "[%s] %zu objects on #%llu (%lld frame(s) old), %.0f ms", r.pipeline.c_str(),
                  r.detections.size(), static_cast<unsigned long long>(r.frame.sequence), static_cast<long long>(age),
                  r.inference_time.as_millis());
    label(img, info, cv::Point(4, line), scale, colour_for(r.pipeline));
  }
}

}  // namespace

void draw_overlay(uint8_t* bgr, int width, int height, int stride, const OverlayText& text,
                  const std::vector<DetectionResult>& results) {
  BgrPainter painter(cv::Mat(height, width, CV_8UC3, bgr, static_cast<size_t>(stride)));
  draw_overlay_with(painter, width, height, text, results);
}

namespace {
bool drawable(const YuvPicture& p) {
  return (p.format == PixelFormat::kI420 || p.format == PixelFormat::kNV12) && p.width > 1 &&
         p.height > 1 && p.width % 2 == 0 && p.height % 2 == 0 && p.planes[0] && p.planes[1] &&
         (p.format == PixelFormat::kNV12 || p.planes[2]);
}
}  // namespace

void draw_overlay(const YuvPicture& picture, const OverlayText& text,
                  const std::vector<DetectionResult>& results) {
  if (!drawable(picture)) return;
  YuvPainter painter(picture);
  draw_overlay_with(painter, picture.width, picture.height, text, results);
}

void draw_signal_lost(uint8_t* bgr, int width, int height, int stride, const std::string& stream, Duration lost_for,
                      const std::string& cause) {
  cv::Mat img(height, width, CV_8UC3, bgr, static_cast<size_t>(stride));
  img *= 0.3;
  const double scale = std::clamp(width / 640.0, 0.5, 2.0);
  const std::string banner = "SIGNAL LOST";
  int base = 0;
  const cv::Size sz = cv::getTextSize(banner, cv::FONT_HERSHEY_SIMPLEX, scale * 1.2, 2, &base);
  cv::putText(img, banner, cv::Point((width - sz.width) / 2, height / 2), cv::FONT_HERSHEY_SIMPLEX, scale * 1.2,
              cv::Scalar(0, 0, 255), 2, cv::LINE_AA);
  char line[160];
  std::snprintf(line, sizeof line, "%s: no frame for %.1f s", stream.c_str(), lost_for.as_seconds());
  cv::putText(img, line, cv::Point(8, height / 2 + static_cast<int>(30 * scale)), cv::FONT_HERSHEY_SIMPLEX,
              scale * 0.5, cv::Scalar(255, 255, 255), 1, cv::LINE_AA);
  if (!cause.empty()) {
    std::string c = cause.size() > 90 ? cause.substr(0, 87) + "..." : cause;
    cv::putText(img, c, cv::Point(8, height / 2 + static_cast<int>(52 * scale)), cv::FONT_HERSHEY_SIMPLEX,
                scale * 0.4, cv::Scalar(200, 200, 200), 1, cv::LINE_AA);
  }
}

void stamp_sequence(uint8_t* bgr, int width, int height, int stride, uint64_t sequence) {
  const int b = block_size(width);
  if (b * 32 > width || b > height) return;
  cv::Mat img(height, width, CV_8UC3, bgr, static_cast<size_t>(stride));
  const uint32_t seq24 = static_cast<uint32_t>(sequence & 0xFFFFFF);
  const uint32_t word = (seq24 << 8) | check_bits(seq24);
  for (int i = 0; i < 32; ++i) {
    const bool one = (word >> (31 - i)) & 1u;
    cv::rectangle(img, cv::Rect(i * b, 0, b, b), one ? cv::Scalar(255, 255, 255) : cv::Scalar(0, 0, 0), cv::FILLED);
  }
}

void stamp_sequence(const YuvPicture& picture, uint64_t sequence) {
  const int b = block_size(picture.width);
  if (!drawable(picture) || b * 32 > picture.width || b > picture.height) return;
  YuvPainter img(picture);
  const uint32_t seq24 = static_cast<uint32_t>(sequence & 0xFFFFFF);
  const uint32_t word = (seq24 << 8) | check_bits(seq24);
  for (int i = 0; i < 32; ++i) {
    const bool one = (word >> (31 - i)) & 1u;
    img.fill(cv::Point(i * b, 0), cv::Point(i * b + b - 1, b - 1),
             one ? cv::Scalar(255, 255, 255) : cv::Scalar(0, 0, 0));
  }
}

std::optional<uint64_t> read_sequence(const uint8_t* luma, int width, int height, int stride) {
  const int b = block_size(width);
  if (b * 32 > width || b > height) return std::nullopt;
  uint32_t word = 0;
  for (int i = 0; i < 32; ++i) {
    const int cx = i * b + b / 2, cy = b / 2;
    const bool one = luma[static_cast<size_t>(cy) * static_cast<size_t>(stride) + static_cast<size_t>(cx)] > 128;
    word = (word << 1) | (one ? 1u : 0u);
  }
  const uint32_t seq24 = word >> 8;
  if ((word & 0xFF) != check_bits(seq24)) return std::nullopt;
  return seq24;
}

std::string format_wall_time(Timestamp steady) {
  const Timestamp now = SteadyClock::instance().now();
  const auto wall = std::chrono::system_clock::now() - (now - steady).to_chrono();
  const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(wall.time_since_epoch()).count();
  const std::time_t secs = static_cast<std::time_t>(ms / 1000);
  std::tm tm{};
  localtime_r(&secs, &tm);
  char buf[32];
  std::snprintf(buf, sizeof buf, "%02d:%02d:%02d.%03lld", tm.tm_hour, tm.tm_min, tm.tm_sec,
                static_cast<long long>(ms % 1000));
  return buf;
}

}  // namespace orion::media
