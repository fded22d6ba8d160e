#include "infer/postprocess.h"

#include <algorithm>
#include <cmath>
#include <numeric>

namespace orion::infer {

Box Letterbox::to_source(const Box& b) const {
  const float inv = scale > 0 ? 1.0f / scale : 1.0f;
  auto clamp = [](float v, float hi) { return std::clamp(v, 0.0f, hi); };
  const auto w = static_cast<float>(src_w), h = static_cast<float>(src_h);
  return Box{clamp((b.x1 - static_cast<float>(pad_left)) * inv, w),
             clamp((b.y1 - static_cast<float>(pad_top)) * inv, h),
             clamp((b.x2 - static_cast<float>(pad_left)) * inv, w),
             clamp((b.y2 - static_cast<float>(pad_top)) * inv, h)};
}

Letterbox make_letterbox(int src_w, int src_h, int dst_w, int dst_h, LetterboxAlign align) {
  Letterbox l;
  l.src_w = src_w;
  l.src_h = src_h;
  l.dst_w = dst_w;
  l.dst_h = dst_h;
  if (src_w <= 0 || src_h <= 0 || dst_w <= 0 || dst_h <= 0) return l;
  const double r = std::min(static_cast<double>(dst_w) / src_w, static_cast<double>(dst_h) / src_h);
  l.scale = static_cast<float>(r);
  if (align == LetterboxAlign::kCenter) {
    // ultralytics LetterBox: new_unpad = round(w·r), round(h·r); dw = (W - new_w) / 2;
    // left = round(dw - 0.1), top = round(dh - 0.1).
    l.resized_w = std::clamp(static_cast<int>(std::lround(src_w * r)), 1, dst_w);
    l.resized_h = std::clamp(static_cast<int>(std::lround(src_h * r)), 1, dst_h);
    const double dw = (dst_w - l.resized_w) / 2.0, dh = (dst_h - l.resized_h) / 2.0;
    l.pad_left = static_cast<int>(std::lround(dw - 0.1));
    l.pad_top = static_cast<int>(std::lround(dh - 0.1));
  } else {
    // YOLOX preproc: resized = int(w·r), int(h·r) at the top-left.
    l.resized_w = std::clamp(static_cast<int>(src_w * r), 1, dst_w);
    l.resized_h = std::clamp(static_cast<int>(src_h * r), 1, dst_h);
  }
  return l;
}

int64_t grid_anchor_count(int input_w, int input_h) {
  int64_t n = 0;
  for (int s : {8, 16, 32}) n += static_cast<int64_t>(input_w / s) * (input_h / s);
  return n;
}

namespace {

bool keep_class(std::span<const uint8_t> mask, int64_t c) {
  return mask.empty() ||
         (c < static_cast<int64_t>(mask.size()) && mask[static_cast<size_t>(c)] != 0);
}

Box from_center(float cx, float cy, float w, float h) {
  return Box{cx - w * 0.5f, cy - h * 0.5f, cx + w * 0.5f, cy + h * 0.5f};
}

}  // namespace

void decode_yolov8(const float* data, int64_t anchors, int64_t attrs, bool transposed,
                   float score_threshold, std::span<const uint8_t> class_mask,
                   std::vector<Candidate>& out) {
  const int64_t classes = attrs - 4;
  if (classes <= 0 || anchors <= 0) return;
  if (transposed) {  // [N, 4 + C]: one contiguous row per anchor
    for (int64_t a = 0; a < anchors; ++a) {
      const float* row = data + a * attrs;
      int64_t best = -1;
      float best_score = -1;
      for (int64_t c = 0; c < classes; ++c) {
        if (row[4 + c] > best_score && keep_class(class_mask, c)) {
          best_score = row[4 + c];
          best = c;
        }
      }
      if (best >= 0 && best_score >= score_threshold) {
        out.push_back(
            {static_cast<int>(best), best_score, from_center(row[0], row[1], row[2], row[3])});
      }
    }
    return;
  }
  // [4 + C, N]: class rows are contiguous over anchors. Walk them row by row (cache friendly),
  // keeping the best class per anchor.
  std::vector<float> best_score(static_cast<size_t>(anchors), -1.0f);
  std::vector<int> best_class(static_cast<size_t>(anchors), -1);
  for (int64_t c = 0; c < classes; ++c) {
    if (!keep_class(class_mask, c)) continue;
    const float* row = data + (4 + c) * anchors;
    for (int64_t a = 0; a < anchors; ++a) {
      if (row[a] > best_score[static_cast<size_t>(a)]) {
        best_score[static_cast<size_t>(a)] = row[a];
        best_class[static_cast<size_t>(a)] = static_cast<int>(c);
      }
    }
  }
  for (int64_t a = 0; a < anchors; ++a) {
    const auto i = static_cast<size_t>(a);
    if (best_class[i] < 0 || best_score[i] < score_threshold) continue;
    out.push_back(
        {best_class[i], best_score[i],
         from_center(data[a], data[anchors + a], data[2 * anchors + a], data[3 * anchors + a])});
  }
}

void decode_yolox(const float* data, int64_t anchors, int64_t attrs, int input_w, int input_h,
                  float score_threshold, std::span<const uint8_t> class_mask,
                  std::vector<Candidate>& out) {
  const int64_t classes = attrs - 5;
  if (classes <= 0 || anchors != grid_anchor_count(input_w, input_h)) return;
  int64_t a = 0;
  for (int stride : {8, 16, 32}) {
    const int gw = input_w / stride, gh = input_h / stride;
    const auto s = static_cast<float>(stride);
    for (int gy = 0; gy < gh; ++gy) {
      for (int gx = 0; gx < gw; ++gx, ++a) {
        const float* row = data + a * attrs;
        const float obj = row[4];
        if (obj < score_threshold) continue;  // score = obj·cls <= obj
        int64_t best = -1;
        float best_cls = -1;
        for (int64_t c = 0; c < classes; ++c) {
          if (row[5 + c] > best_cls && keep_class(class_mask, c)) {
            best_cls = row[5 + c];
            best = c;
          }
        }
        const float score = obj * best_cls;
        if (best < 0 || score < score_threshold) continue;
        const float cx = (row[0] + static_cast<float>(gx)) * s;
        const float cy = (row[1] + static_cast<float>(gy)) * s;
        const float w = std::exp(row[2]) * s, h = std::exp(row[3]) * s;
        out.push_back({static_cast<int>(best), score, from_center(cx, cy, w, h)});
      }
    }
  }
}

std::vector<Candidate> nms_per_class(std::vector<Candidate> candidates, float iou_threshold,
                                     size_t max_detections) {
  std::vector<size_t> order(candidates.size());
  std::iota(order.begin(), order.end(), size_t{0});
  std::stable_sort(order.begin(), order.end(), [&](size_t x, size_t y) {
    const Candidate &a = candidates[x], &b = candidates[y];
    if (a.score != b.score) return a.score > b.score;
    return a.class_id < b.class_id;
  });
  std::vector<Candidate> kept;
  for (size_t i : order) {
    if (kept.size() >= max_detections) break;
    const Candidate& c = candidates[i];
    bool suppressed = false;
    for (const Candidate& k : kept) {
      if (k.class_id == c.class_id && iou(k.box, c.box) > iou_threshold) {
        suppressed = true;
        break;
      }
    }
    if (!suppressed) kept.push_back(c);
  }
  return kept;
}

}  // namespace orion::infer
