#include "worker/protocol.h"

#include <cmath>
#include <nlohmann/json.hpp>

namespace orion::worker {

using nlohmann::json;

namespace {

Error bad_msg(const std::string& what) { return make_error("protocol.bad_message", what); }
Error bad_result(const std::string& what) { return make_error("protocol.bad_result", what); }

Result<json> parse(std::string_view text) {
  json j = json::parse(text.begin(), text.end(), nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded())
    return make_error("protocol.bad_json",
                      "not valid JSON: '" + std::string(text.substr(0, 120)) + "'");
  if (!j.is_object()) return make_error("protocol.bad_json", "a message must be a JSON object");
  return j;
}

// Reads optional field `key` of type T into `out`; an existing field of the wrong type is an error.
template <class T>
bool get(const json& j, const char* key, T& out, std::string& err) {
  auto it = j.find(key);
  if (it == j.end() || it->is_null()) return true;
  try {
    out = it->get<T>();
    return true;
  } catch (const std::exception&) {
    err = std::string("field '") + key + "' has the wrong type";
    return false;
  }
}

}  // namespace

std::string encode_configure(const WorkerConfig& c) {
  json m = {{"kind", c.model.kind},
            {"path", c.model.path},
            {"input_width", c.model.input_width},
            {"input_height", c.model.input_height},
            {"classes", c.model.classes},
            {"class_names_path", c.model.class_names_path},
            {"threads", c.model.threads},
            {"fake_delay_ms", c.model.fake_delay_ms}};
  json j = {{"type", "configure"},  {"protocol", kProtocolVersion}, {"pipeline", c.pipeline},
            {"stream", c.stream},   {"stream_id", c.stream_id},     {"sla", c.sla},
            {"model", m},           {"min_score", c.min_score},     {"iou", c.iou},
            {"pool_fd", c.pool_fd}, {"mailbox_fd", c.mailbox_fd},   {"results_fd", c.results_fd}};
  if (c.motion_gate.enabled) {
    const infer::MotionGateConfig& g = c.motion_gate;
    j["motion_gate"] = {{"enabled", true},
                        {"analysis_width", g.analysis_width},
                        {"min_motion_fraction", g.min_motion_fraction},
                        {"history", g.history},
                        {"var_threshold", g.var_threshold},
                        {"learning_rate", g.learning_rate},
                        {"max_skipped_in_row", g.max_skipped_in_row}};
  }
  return j.dump();
}

Result<WorkerConfig> decode_configure(std::string_view line) {
  auto j = parse(line);
  if (!j.ok()) return j.error();
  WorkerConfig c;
  std::string err, type;
  int protocol = kProtocolVersion;
  if (!get(*j, "type", type, err)) return bad_msg(err);
  if (type != "configure") return bad_msg("expected type 'configure', got '" + type + "'");
  if (!get(*j, "protocol", protocol, err)) return bad_msg(err);
  if (protocol != kProtocolVersion)
    return bad_msg("protocol version " + std::to_string(protocol) + " is not supported (supports " +
                   std::to_string(kProtocolVersion) + ")");
  if (!get(*j, "pipeline", c.pipeline, err) || !get(*j, "stream", c.stream, err) ||
      !get(*j, "stream_id", c.stream_id, err) || !get(*j, "sla", c.sla, err) ||
      !get(*j, "min_score", c.min_score, err) || !get(*j, "iou", c.iou, err) ||
      !get(*j, "pool_fd", c.pool_fd, err) || !get(*j, "mailbox_fd", c.mailbox_fd, err) ||
      !get(*j, "results_fd", c.results_fd, err))
    return bad_msg(err);
  auto m = j->find("model");
  if (m == j->end() || !m->is_object()) return bad_msg("field 'model' (an object) is missing");
  if (!get(*m, "kind", c.model.kind, err) || !get(*m, "path", c.model.path, err) ||
      !get(*m, "input_width", c.model.input_width, err) ||
      !get(*m, "input_height", c.model.input_height, err) ||
      !get(*m, "classes", c.model.classes, err) ||
      !get(*m, "class_names_path", c.model.class_names_path, err) ||
      !get(*m, "threads", c.model.threads, err) ||
      !get(*m, "fake_delay_ms", c.model.fake_delay_ms, err))
    return bad_msg("model: " + err);
  if (auto g = j->find("motion_gate"); g != j->end() && !g->is_null()) {
    if (!g->is_object()) return bad_msg("field 'motion_gate' must be an object");
    infer::MotionGateConfig& mg = c.motion_gate;
    mg.enabled = true;  // the object's presence turns the gate on unless it says otherwise
    if (!get(*g, "enabled", mg.enabled, err) ||
        !get(*g, "analysis_width", mg.analysis_width, err) ||
        !get(*g, "min_motion_fraction", mg.min_motion_fraction, err) ||
        !get(*g, "history", mg.history, err) || !get(*g, "var_threshold", mg.var_threshold, err) ||
        !get(*g, "learning_rate", mg.learning_rate, err) ||
        !get(*g, "max_skipped_in_row", mg.max_skipped_in_row, err))
      return bad_msg("motion_gate: " + err);
    if (mg.analysis_width <= 0) return bad_msg("field 'motion_gate.analysis_width' must be > 0");
    if (!(mg.min_motion_fraction >= 0 && mg.min_motion_fraction <= 1))
      return bad_msg("field 'motion_gate.min_motion_fraction' must be in [0, 1]");
    if (mg.history <= 0) return bad_msg("field 'motion_gate.history' must be > 0");
    if (!(mg.var_threshold > 0)) return bad_msg("field 'motion_gate.var_threshold' must be > 0");
    if (!(mg.learning_rate == -1 || (mg.learning_rate >= 0 && mg.learning_rate <= 1)))
      return bad_msg("field 'motion_gate.learning_rate' must be -1 (automatic) or in [0, 1]");
    if (mg.max_skipped_in_row < 0)
      return bad_msg("field 'motion_gate.max_skipped_in_row' must be >= 0");
  }
  if (c.pipeline.empty()) return bad_msg("field 'pipeline' is missing or empty");
  if (c.model.kind.empty()) return bad_msg("field 'model.kind' is missing or empty");
  if (!(c.min_score >= 0 && c.min_score <= 1))
    return bad_msg("field 'min_score' must be in [0, 1]");
  if (c.pool_fd < 0 || c.mailbox_fd < 0 || c.results_fd < 0)
    return bad_msg("descriptor fields must be >= 0");
  return c;
}

Result<ControlMessage> decode_control(std::string_view line) {
  auto j = parse(line);
  if (!j.ok()) return j.error();
  ControlMessage c;
  c.raw = std::string(line);
  std::string err;
  if (!get(*j, "type", c.type, err) || !get(*j, "seq", c.seq, err) ||
      !get(*j, "state", c.state, err) || !get(*j, "frames", c.frames, err) ||
      !get(*j, "busy_ms", c.busy_ms, err) || !get(*j, "pid", c.pid, err) ||
      !get(*j, "protocol", c.protocol, err) || !get(*j, "abi", c.abi, err) ||
      !get(*j, "code", c.code, err) || !get(*j, "message", c.message, err) ||
      !get(*j, "fatal", c.fatal, err) || !get(*j, "motion_frames", c.motion_frames, err) ||
      !get(*j, "motion_passed", c.motion_passed, err) ||
      !get(*j, "motion_skipped", c.motion_skipped, err))
    return bad_msg(err);
  if (c.type.empty()) return bad_msg("field 'type' is missing");
  return c;
}

std::string encode_heartbeat(uint64_t seq) {
  return json{{"type", "heartbeat"}, {"seq", seq}}.dump();
}
std::string encode_simple(std::string_view type) {
  return json{{"type", std::string(type)}}.dump();
}

std::string encode_result(const DetectionResult& r) {
  json dets = json::array();
  for (const auto& d : r.detections)
    dets.push_back({{"class_id", d.class_id},
                    {"class", d.class_name},
                    {"score", d.score},
                    {"box", {d.box.x1, d.box.y1, d.box.x2, d.box.y2}}});
  json j = {{"type", "result"},
            {"stream", r.frame.stream},
            {"sequence", r.frame.sequence},
            {"pts_ns", r.frame.pts.count_nanos()},
            {"capture_ns", r.frame.capture_time.nanos()},
            {"done_ns", r.done_time.nanos()},
            {"inference_ns", r.inference_time.count_nanos()},
            {"detections", std::move(dets)}};
  return j.dump();
}

Result<DetectionResult> decode_result(std::string_view datagram) {
  if (datagram.size() > kMaxResultBytes)
    return bad_result("result of " + std::to_string(datagram.size()) + " bytes exceeds " +
                      std::to_string(kMaxResultBytes));
  auto j = parse(datagram);
  if (!j.ok()) return j.error();
  std::string err, type;
  DetectionResult r;
  uint64_t sequence = 0;
  uint32_t stream = 0;
  int64_t pts = 0, capture = 0, done = 0, inference = 0;
  if (!get(*j, "type", type, err) || !get(*j, "stream", stream, err) ||
      !get(*j, "sequence", sequence, err) || !get(*j, "pts_ns", pts, err) ||
      !get(*j, "capture_ns", capture, err) || !get(*j, "done_ns", done, err) ||
      !get(*j, "inference_ns", inference, err))
    return bad_result(err);
  if (type != "result") return bad_result("expected type 'result', got '" + type + "'");
  if (sequence == 0) return bad_result("field 'sequence' is missing or 0");
  r.frame = FrameIdentity{stream, sequence, Duration::nanos(pts), Timestamp::from_nanos(capture)};
  r.done_time = Timestamp::from_nanos(done);
  r.inference_time = Duration::nanos(inference);
  auto dets = j->find("detections");
  if (dets == j->end() || !dets->is_array())
    return bad_result("field 'detections' (an array) is missing");
  if (dets->size() > kMaxDetectionsPerResult)
    return bad_result(std::to_string(dets->size()) + " detections exceed the limit of " +
                      std::to_string(kMaxDetectionsPerResult));
  r.detections.reserve(dets->size());
  for (size_t i = 0; i < dets->size(); ++i) {
    const json& d = (*dets)[i];
    const std::string at = "detections[" + std::to_string(i) + "]";
    if (!d.is_object()) return bad_result(at + " is not an object");
    Detection x;
    std::vector<float> box;
    if (!get(d, "class_id", x.class_id, err) || !get(d, "class", x.class_name, err) ||
        !get(d, "score", x.score, err) || !get(d, "box", box, err))
      return bad_result(at + ": " + err);
    if (box.size() != 4) return bad_result(at + ".box must be [x1, y1, x2, y2]");
    for (float v : box)
      if (!std::isfinite(v)) return bad_result(at + ".box has a non-finite coordinate");
    if (!(x.score >= 0 && x.score <= 1)) return bad_result(at + ".score must be in [0, 1]");
    if (x.class_id < -1) return bad_result(at + ".class_id must be >= -1");
    x.box = Box{box[0], box[1], box[2], box[3]};
    r.detections.push_back(std::move(x));
  }
  return r;
}

}  // namespace orion::worker
