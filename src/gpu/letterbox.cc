#include "gpu/letterbox.h"

#include <algorithm>
#include <cmath>

namespace orion::gpu {

Box Letterbox::to_source(const Box& b) const {
  const float inv = scale > 0 ? 1.0f / scale : 1.0f;
  auto clamp = [](float v, float hi) { return std::clamp(v, 0.0f, hi); };
  const auto w = static_cast<float>(src_w), h = static_cast<float>(src_h);
  return Box{clamp((b.x1 - static_cast<float>(pad_left)) * inv, w),
             clamp((b.y1 - static_cast<float>(pad_top)) * inv, h),
             clamp((b.x2 - static_cast<float>(pad_left)) * inv, w),
             clamp((b.y2 - static_cast<float>(pad_top)) * inv, h)};
}

Letterbox make_letterbox(int src_w, int src_h, int dst_w, int dst_h, Align align) {
  Letterbox l;
  l.src_w = src_w;
  l.src_h = src_h;
  l.dst_w = dst_w;
  l.dst_h = dst_h;
  if (src_w <= 0 || src_h <= 0 || dst_w <= 0 || dst_h <= 0) return l;
  const double r = std::min(static_cast<double>(dst_w) / src_w, static_cast<double>(dst_h) / src_h);
  l.scale = static_cast<float>(r);
  if (align == Align::kCenter) {
    l.resized_w = std::clamp(static_cast<int>(std::lround(src_w * r)), 1, dst_w);
    l.resized_h = std::clamp(static_cast<int>(std::lround(src_h * r)), 1, dst_h);
    const double dw = (dst_w - l.resized_w) / 2.0, dh = (dst_h - l.resized_h) / 2.0;
    l.pad_left = static_cast<int>(std::lround(dw - 0.1));
    l.pad_top = static_cast<int>(std::lround(dh - 0.1));
  } else {
    l.resized_w = std::clamp(static_cast<int>(src_w * r), 1, dst_w);
    l.resized_h = std::clamp(static_cast<int>(src_h * r), 1, dst_h);
  }
  return l;
}

}  // namespace orion::gpu
