#include "protocol/result.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>

#include "protocol/json_fields.h"

namespace orion::protocol {

using detail::FieldReader;
using detail::json;
using detail::Need;
using detail::Text;

namespace {

constexpr const char* kBadResult = "protocol.bad_result";
constexpr int64_t kInt64Max = std::numeric_limits<int64_t>::max();
constexpr int64_t kInt64Min = std::numeric_limits<int64_t>::min();

// One element of "detections"; `at` is its path ("detections[3]").
Result<Detection> decode_detection(const json& d, const std::string& at) {
  if (!d.is_object()) return make_error(kBadResult, at + " is not an object");
  Detection x;
  FieldReader f(d, at + ".", kBadResult);
  f.integer("class_id", -1, 0x7fffffff, x.class_id);
  f.string("class", kMaxClassNameBytes, x.class_name, Text::kLine);
  f.number("score", 0, 1, x.score, Need::kRequired);
  const json* box = f.array("box", 4, Need::kRequired);
  if (!f.ok()) return f.error();
  if (box->size() != 4) return make_error(kBadResult, at + ".box must be [x1, y1, x2, y2]");
  float v[4];
  for (size_t k = 0; k < 4; ++k) {
    const json& c = (*box)[k];
    const std::string where = at + ".box[" + std::to_string(k) + "]";
    if (!c.is_number()) return make_error(kBadResult, where + " is not a number");
    const double n = c.get<double>();
    if (!std::isfinite(n) || std::fabs(n) > kMaxBoxCoordinate)
      return make_error(kBadResult, where + " must be a number finite as a float (got " +
                                        detail::excerpt(c.dump(), 40) + ")");
    v[k] = static_cast<float>(n);
  }
  x.box = Box{v[0], v[1], v[2], v[3]};
  return x;
}

}  // namespace

std::string encode_result(const DetectionResult& r) {
  json dets = json::array();
  const size_t n = std::min(r.detections.size(), kMaxDetectionsPerResult);
  for (size_t i = 0; i < n; ++i) {
    const Detection& d = r.detections[i];
    dets.push_back({{"class_id", d.class_id},
                    {"class", detail::cut_utf8(d.class_name, kMaxClassNameBytes)},
                    {"score", d.score},
                    {"box", {d.box.x1, d.box.y1, d.box.x2, d.box.y2}}});
  }
  json j = {{"type", "result"},
            {"stream", r.frame.stream},
            {"sequence", r.frame.sequence},
            {"pts_ns", r.frame.pts.count_nanos()},
            {"capture_ns", r.frame.capture_time.nanos()},
            {"done_ns", r.done_time.nanos()},
            {"inference_ns", r.inference_time.count_nanos()},
            {"detections", std::move(dets)}};
  return detail::to_line(j);
}

Result<DetectionResult> decode_result(std::string_view datagram) {
  auto j = detail::parse_object(datagram, kMaxResultBytes, kBadResult);
  if (!j.ok()) return j.error();
  FieldReader f(*j, "", kBadResult);
  std::string type;
  f.string("type", 32, type, Text::kLine, Need::kRequired);
  if (!f.ok()) return f.error();
  if (type != "result")
    return make_error(kBadResult, "expected type 'result', got '" + detail::excerpt(type) + "'");
  uint32_t stream = 0;
  uint64_t sequence = 0;
  int64_t pts = 0, capture = 0, done = 0, inference = 0;
  f.integer("stream", 0, 0xffffffff, stream, Need::kRequired);
  f.integer("sequence", 1, kInt64Max, sequence, Need::kRequired);
  f.integer("pts_ns", kInt64Min, kInt64Max, pts, Need::kRequired);
  f.integer("capture_ns", 0, kInt64Max, capture, Need::kRequired);
  f.integer("done_ns", 0, kInt64Max, done, Need::kRequired);
  f.integer("inference_ns", 0, kInt64Max, inference, Need::kRequired);
  const json* dets = f.array("detections", kMaxDetectionsPerResult, Need::kRequired);
  if (!f.ok()) return f.error();
  DetectionResult r;
  r.frame = FrameIdentity{stream, sequence, Duration::nanos(pts), Timestamp::from_nanos(capture)};
  r.done_time = Timestamp::from_nanos(done);
  r.inference_time = Duration::nanos(inference);
  r.detections.reserve(dets->size());
  for (size_t i = 0; i < dets->size(); ++i) {
    auto d = decode_detection((*dets)[i], "detections[" + std::to_string(i) + "]");
    if (!d.ok()) return d.error();
    r.detections.push_back(std::move(d).value());
  }
  return r;
}

}  // namespace orion::protocol
