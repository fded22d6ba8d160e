#include "media/overlay.h"

#include <chrono>
#include <cstdio>
#include <ctime>
#include <functional>
#include <opencv2/imgproc.hpp>

#include "core/clock.h"

namespace orion::media {

namespace {

cv::Scalar colour_for(const std::string& key) {
  const size_t h = std::hash<std::string>{}(key);
  static const cv::Scalar kPalette[] = {{0, 255, 0},   {0, 200, 255}, {255, 128, 0}, {255, 0, 255},
                                        {0, 255, 255}, {128, 128, 255}, {255, 255, 0}};
  return kPalette[h % (sizeof(kPalette) / sizeof(kPalette[0]))];
}

void label(cv::Mat& img, const std::string& text, cv::Point org, double scale, const cv::Scalar& fg) {
  int base = 0;
  const cv::Size sz = cv::getTextSize(text, cv::FONT_HERSHEY_SIMPLEX, scale, 1, &base);
  cv::rectangle(img, cv::Point(org.x, org.y - sz.height - 3), cv::Point(org.x + sz.width + 4, org.y + base),
                cv::Scalar(0, 0, 0), cv::FILLED);
  cv::putText(img, text, cv::Point(org.x + 2, org.y - 1), cv::FONT_HERSHEY_SIMPLEX, scale, fg, 1, cv::LINE_AA);
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

void draw_overlay(uint8_t* bgr, int width, int height, int stride, const OverlayText& text,
                  const std::vector<DetectionResult>& results) {
  cv::Mat img(height, width, CV_8UC3, bgr, static_cast<size_t>(stride));
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
      cv::rectangle(img, p1, p2, c, 2);
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
