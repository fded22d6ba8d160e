#include "engine/worker_intake.h"

#include <algorithm>
#include <cmath>

#include "ipc/layout.h"
#include "protocol/control.h"
#include "protocol/result.h"

namespace orion::engine {

namespace proto = orion::protocol;

void Violations::add(const std::string& code, const std::string& message,
                     bool counts_toward_limit) {
  ++counts[code];
  if (counts_toward_limit) ++counted;
  last = code + ": " + message;
}

uint64_t LineFramer::feed(std::string_view bytes, std::vector<std::string>& lines) {
  uint64_t dropped = 0;
  while (!bytes.empty()) {
    const size_t nl = bytes.find('\n');
    if (skipping_) {
      if (nl == std::string_view::npos) return dropped;
      skipping_ = false;
      bytes.remove_prefix(nl + 1);
      continue;
    }
    const size_t take = nl == std::string_view::npos ? bytes.size() : nl;
    if (buf_.size() + take > kMaxControlLine) {
      ++dropped;
      buf_.clear();
      skipping_ = nl == std::string_view::npos;
      bytes.remove_prefix(nl == std::string_view::npos ? bytes.size() : nl + 1);
      continue;
    }
    buf_.append(bytes.substr(0, take));
    if (nl == std::string_view::npos) return dropped;
    lines.push_back(std::move(buf_));
    buf_.clear();
    bytes.remove_prefix(nl + 1);
  }
  return dropped;
}

void ControlIntake::on_line(std::string_view line, Timestamp now, WorkerFacts& f, Violations& v) {
  if (!window_start_.is_set() || now - window_start_ >= Duration::seconds(1)) {
    window_start_ = now;
    window_lines_ = 0;
  }
  if (++window_lines_ > max_lines_ && !flood_) {
    flood_ = true;
    v.add("protocol.flood",
          "more than " + std::to_string(max_lines_) + " control lines in one second");
  }
  if (line.empty()) return;
  auto m = proto::decode_control(line);
  if (!m.ok()) {
    if (m.error().code == "protocol.missing_version") {
      f.fatal = true;
      f.fatal_error = m.error().to_string();
      v.add(m.error().code, m.error().message);
    } else {
      v.add("protocol.bad_line", m.error().to_string());
    }
    return;
  }
  static const char* const kKnown[] = {"hello", "ready", "heartbeat", "state", "error", "stopped"};
  if (std::find(std::begin(kKnown), std::end(kKnown), m->type) == std::end(kKnown)) {
    v.add("protocol.bad_line", "unknown message type '" + m->type.substr(0, 64) + "'");
    return;
  }
  f.spoke = true;
  f.last_reply = now;
  if (m->type == "hello") {
    f.hello = true;
    // A hello without versions never decodes (protocol.missing_version, above).
    if (Status st = proto::check_hello(*m); !st.ok()) {
      f.fatal = true;
      f.fatal_error = st.error().to_string();
      v.add(st.error().code, st.error().message);
    }
  } else if (m->type == "ready") {
    if (!f.ready) f.ready_at = now;
    f.ready = true;
  } else if (m->type == "heartbeat") {
    // Bounded: a busy time beyond a day is a lie, read as "a day" (hung either way).
    f.busy = m->busy_ms < 0 ? Duration::nanos(-1)
                            : Duration::millis(std::min<int64_t>(m->busy_ms, 86'400'000));
  } else if (m->type == "error") {
    const std::string e = m->code.substr(0, 128) + ": " + m->message.substr(0, 1024);
    if (m->fatal) {
      f.fatal = true;
      f.fatal_error = e;
    }
    f.last_error = e;
  }
  if (m->type == "heartbeat" || m->type == "state" || m->type == "stopped") {
    // Counters only grow within one process; a reply without them leaves them as they are.
    f.frames = std::max(f.frames, m->frames);
    f.motion_frames = std::max(f.motion_frames, m->motion_frames);
    f.motion_passed = std::max(f.motion_passed, m->motion_passed);
    f.motion_skipped = std::max(f.motion_skipped, m->motion_skipped);
  }
  if (m->type == "stopped") f.stopped = true;
}

namespace {

// Clamps a box to [0,w]×[0,h] (or to ±kMaxDimension when the frame size is unknown). Returns
// false when nothing of it is left inside.
bool clamp_box(Box& b, FrameSize frame) {
  const float w = frame.width > 0 ? static_cast<float>(frame.width) : float(ipc::kMaxDimension);
  const float h = frame.height > 0 ? static_cast<float>(frame.height) : float(ipc::kMaxDimension);
  const float lo_x = frame.width > 0 ? 0.0f : -w, lo_y = frame.height > 0 ? 0.0f : -h;
  auto clamp = [](float x, float lo, float hi) {
    return std::isfinite(x) ? std::clamp(x, lo, hi) : lo;
  };
  b.x1 = clamp(b.x1, lo_x, w);
  b.x2 = clamp(b.x2, lo_x, w);
  b.y1 = clamp(b.y1, lo_y, h);
  b.y2 = clamp(b.y2, lo_y, h);
  return b.x2 > b.x1 && b.y2 > b.y1;
}

}  // namespace

std::optional<DetectionResult> ResultIntake::on_datagram(std::string_view bytes, size_t size,
                                                         FrameSize frame, Violations& v) {
  if (size > bytes.size() || size > ctx_.max_bytes) {
    v.add("result.oversized", "a result datagram of " + std::to_string(size) + " bytes (at most " +
                                  std::to_string(ctx_.max_bytes) + ")");
    return std::nullopt;
  }
  auto r = proto::decode_result(bytes.substr(0, size));
  if (!r.ok()) {
    v.add("result.malformed", r.error().to_string());
    return std::nullopt;
  }
  DetectionResult res = std::move(r).value();
  const uint64_t seq = res.frame.sequence;
  if (res.frame.stream != ctx_.stream_id) {
    v.add("result.wrong_stream", "a result for stream id " + std::to_string(res.frame.stream) +
                                     "; this worker reads stream id " +
                                     std::to_string(ctx_.stream_id));
    return std::nullopt;
  }
  switch (ctx_.offer_state ? ctx_.offer_state(seq) : OfferState::kNeverOffered) {
    case OfferState::kTaken:
      break;
    case OfferState::kNotTaken:
      v.add("result.not_leased",
            "a result for frame " + std::to_string(seq) + ", which it never took");
      return std::nullopt;
    case OfferState::kNeverOffered:
      v.add("result.never_offered",
            "a result for frame " + std::to_string(seq) + ", never offered to it");
      return std::nullopt;
    case OfferState::kTooOld:
      v.add("result.too_old",
            "a result for frame " + std::to_string(seq) + ", older than the engine remembers",
            false);
      return std::nullopt;
  }
  if (!accepted_.insert(seq).second) {
    v.add("result.duplicate", "a second result for frame " + std::to_string(seq));
    return std::nullopt;
  }
  accepted_order_.push_back(seq);
  if (accepted_order_.size() > kRemember) {
    accepted_.erase(accepted_order_.front());
    accepted_order_.pop_front();
  }
  auto& d = res.detections;
  const size_t before = d.size();
  d.erase(
      std::remove_if(d.begin(), d.end(), [&](Detection& x) { return !clamp_box(x.box, frame); }),
      d.end());
  if (d.size() < before)
    v.add("result.box_out_of_frame",
          std::to_string(before - d.size()) + " boxes with no area inside the frame dropped",
          false);
  if (d.size() > ctx_.max_detections) {
    v.add("result.too_many_detections",
          std::to_string(d.size()) + " detections in one result; the " +
              std::to_string(ctx_.max_detections) + " best kept",
          false);
    std::partial_sort(d.begin(), d.begin() + static_cast<std::ptrdiff_t>(ctx_.max_detections),
                      d.end(),
                      [](const Detection& a, const Detection& b) { return a.score > b.score; });
    d.resize(ctx_.max_detections);
  }
  res.pipeline = ctx_.pipeline;  // the socket says whose result it is, not the payload
  return res;
}

}  // namespace orion::engine
