#include "protocol/control.h"

#include <algorithm>

#include "core/device.h"
#include "core/frame_supplier.h"
#include "ipc/layout.h"
#include "protocol/json_fields.h"

namespace orion::protocol {

using detail::FieldReader;
using detail::json;
using detail::Need;
using detail::Text;

namespace {

constexpr const char* kBadMessage = "protocol.bad_message";
constexpr const char* kMissingVersion = "protocol.missing_version";
constexpr int64_t kMaxInt = 0x7fffffff;

// A version field: required and an integer, else "protocol.missing_version" naming it (and,
// for `what`, what the version is of); then 1..INT32_MAX like any field.
Status read_version(const json& j, const char* key, const std::string& message_type,
                    const char* what, int& out) {
  auto it = j.find(key);
  if (it == j.end() || it->is_null())
    return make_error(kMissingVersion, message_type + " has no '" + key + "' field (" + what +
                                           ", an integer); this engine speaks " +
                                           std::to_string(kProtocolVersion) + "/" +
                                           std::to_string(ipc::kAbiVersion));
  if (!it->is_number_integer())
    return make_error(kMissingVersion, message_type + " field '" + key + "' (" + what +
                                           ") must be an integer, got '" +
                                           detail::excerpt(it->dump(), 40) + "'");
  FieldReader f(j, "", kBadMessage);
  f.integer(key, 1, kMaxInt, out, Need::kRequired);
  if (!f.ok()) return f.error();
  return {};
}

json counters_json(const WorkerCounters& c) {
  auto counter = [](uint64_t v) { return std::min<uint64_t>(v, kMaxCounter); };
  return {{"state", c.state},
          {"frames", counter(c.frames)},
          {"errors", counter(c.errors)},
          {"results_sent", counter(c.results_sent)},
          {"results_dropped", counter(c.results_dropped)},
          {"busy_ms", std::clamp<int64_t>(c.busy_ms, -1, kMaxBusyMs)},
          {"motion_frames", counter(c.motion_frames)},
          {"motion_passed", counter(c.motion_passed)},
          {"motion_skipped", counter(c.motion_skipped)}};
}

}  // namespace

std::string encode_configure(const WorkerConfig& c) {
  json m = {{"kind", c.model.kind},
            {"path", c.model.path},
            {"input_width", c.model.input_width},
            {"input_height", c.model.input_height},
            {"classes", c.model.classes},
            {"class_names", c.model.class_names},
            {"class_names_path", c.model.class_names_path},
            {"threads", c.model.threads},
            {"fake_delay_ms", c.model.fake_delay_ms},
            {"device", c.model.device}};
  json j = {{"type", "configure"},  {"protocol", kProtocolVersion}, {"pipeline", c.pipeline},
            {"stream", c.stream},   {"stream_id", c.stream_id},     {"sla", c.sla},
            {"model", m},           {"min_score", c.min_score},     {"iou", c.iou},
            {"pool_fd", c.pool_fd}, {"mailbox_fd", c.mailbox_fd},   {"results_fd", c.results_fd}};
  if (c.motion_gate.enabled) {
    const MotionGateSettings& g = c.motion_gate;
    j["motion_gate"] = {{"enabled", true},
                        {"analysis_width", g.analysis_width},
                        {"min_motion_fraction", g.min_motion_fraction},
                        {"history", g.history},
                        {"var_threshold", g.var_threshold},
                        {"learning_rate", g.learning_rate},
                        {"max_skipped_in_row", g.max_skipped_in_row}};
  }
  return detail::to_line(j);
}

Result<WorkerConfig> decode_configure(std::string_view line) {
  auto j = detail::parse_object(line, kMaxControlLineBytes, kBadMessage);
  if (!j.ok()) return j.error();
  WorkerConfig c;
  FieldReader f(*j, "", kBadMessage);
  std::string type;
  f.string("type", kMaxTypeBytes, type, Text::kLine, Need::kRequired);
  if (!f.ok()) return f.error();
  if (type != "configure")
    return make_error(kBadMessage,
                      "expected type 'configure', got '" + detail::excerpt(type) + "'");
  int protocol = 0;
  if (auto v = read_version(*j, "protocol", "configure", "the control protocol version", protocol);
      !v.ok())
    return v.error();
  if (protocol != kProtocolVersion)
    return make_error(kBadMessage, "protocol version " + std::to_string(protocol) +
                                       " is not supported (supports " +
                                       std::to_string(kProtocolVersion) + ")");
  f.string("pipeline", kMaxNameBytes, c.pipeline, Text::kLine, Need::kRequired);
  f.string("stream", kMaxNameBytes, c.stream);
  f.integer("stream_id", 0, 0xffffffff, c.stream_id);
  f.string("sla", kMaxTypeBytes, c.sla);
  f.number("min_score", 0, 1, c.min_score);
  f.number("iou", 0, 1, c.iou);
  f.integer("pool_fd", 0, kMaxInt, c.pool_fd);
  f.integer("mailbox_fd", 0, kMaxInt, c.mailbox_fd);
  f.integer("results_fd", 0, kMaxInt, c.results_fd);
  const json* m = f.object("model", Need::kRequired);
  const json* g = f.object("motion_gate");
  if (!f.ok()) return f.error();
  if (c.pipeline.empty()) return make_error(kBadMessage, "field 'pipeline' is empty");
  if (!parse_sla(c.sla).ok())
    return make_error(kBadMessage, "field 'sla' must be 'critical' or 'best_effort', got '" +
                                       detail::excerpt(c.sla) + "'");

  FieldReader mf(*m, "model.", kBadMessage);
  mf.string("kind", kMaxTypeBytes, c.model.kind, Text::kLine, Need::kRequired);
  mf.string("path", kMaxPathBytes, c.model.path);
  mf.integer("input_width", 0, kMaxModelInput, c.model.input_width);
  mf.integer("input_height", 0, kMaxModelInput, c.model.input_height);
  mf.string("class_names_path", kMaxPathBytes, c.model.class_names_path);
  mf.integer("threads", 0, kMaxModelThreads, c.model.threads);
  mf.integer("fake_delay_ms", 0, kMaxBusyMs, c.model.fake_delay_ms);
  mf.string("device", kMaxTypeBytes, c.model.device);
  if (const json* classes = mf.array("classes", kMaxConfiguredClasses)) {
    for (size_t i = 0; i < classes->size() && mf.ok(); ++i) {
      const json& name = (*classes)[i];
      const std::string at = "classes[" + std::to_string(i) + "]";
      if (!name.is_string() || name.get_ref<const std::string&>().size() > kMaxNameBytes ||
          !detail::is_one_line(name.get_ref<const std::string&>()))
        mf.fail(at,
                "must be a one-line string of at most " + std::to_string(kMaxNameBytes) + " bytes");
      else
        c.model.classes.push_back(name.get<std::string>());
    }
  }
  if (const json* names = mf.array("class_names", kMaxModelClassNames)) {
    size_t total = 0;
    for (size_t i = 0; i < names->size() && mf.ok(); ++i) {
      const json& name = (*names)[i];
      const std::string at = "class_names[" + std::to_string(i) + "]";
      if (!name.is_string() || name.get_ref<const std::string&>().empty() ||
          name.get_ref<const std::string&>().size() > kMaxNameBytes ||
          !detail::is_one_line(name.get_ref<const std::string&>())) {
        mf.fail(at, "must be a non-empty one-line string of at most " +
                        std::to_string(kMaxNameBytes) + " bytes");
        continue;
      }
      total += name.get_ref<const std::string&>().size();
      if (total > kMaxClassNamesBytes) {
        mf.fail("class_names", "holds more than " + std::to_string(kMaxClassNamesBytes) +
                                   " bytes of names (at " + at + ")");
        continue;
      }
      c.model.class_names.push_back(name.get<std::string>());
    }
  }
  if (!mf.ok()) return mf.error();
  if (c.model.kind.empty()) return make_error(kBadMessage, "field 'model.kind' is empty");
  if (!c.model.device.empty()) {
    if (auto d = parse_inference_device(c.model.device); !d) {
      return make_error(kBadMessage, "field 'model.device': " + d.error().message);
    }
  }

  if (g != nullptr) {
    MotionGateSettings& mg = c.motion_gate;
    mg.enabled = true;  // the object's presence turns the gate on unless it says otherwise
    FieldReader gf(*g, "motion_gate.", kBadMessage);
    gf.boolean("enabled", mg.enabled);
    gf.integer("analysis_width", 1, kMaxMotionGateInteger, mg.analysis_width);
    gf.number("min_motion_fraction", 0, 1, mg.min_motion_fraction);
    gf.integer("history", 1, kMaxMotionGateInteger, mg.history);
    gf.number("var_threshold", 0, 1e6, mg.var_threshold);
    gf.number("learning_rate", -1, 1, mg.learning_rate);
    gf.integer("max_skipped_in_row", 0, kMaxMotionGateInteger, mg.max_skipped_in_row);
    if (!gf.ok()) return gf.error();
    if (!(mg.var_threshold > 0)) gf.fail("var_threshold", "must be > 0");
    if (!(mg.learning_rate == -1 || mg.learning_rate >= 0))
      gf.fail("learning_rate", "must be -1 (automatic) or in [0, 1]");
    if (!gf.ok()) return gf.error();
  }
  return c;
}

Result<ControlMessage> decode_control(std::string_view line) {
  auto j = detail::parse_object(line, kMaxControlLineBytes, kBadMessage);
  if (!j.ok()) return j.error();
  ControlMessage c;
  FieldReader f(*j, "", kBadMessage);
  f.string("type", kMaxTypeBytes, c.type, Text::kLine, Need::kRequired);
  f.integer("seq", 0, kMaxCounter, c.seq);
  f.string("state", kMaxTypeBytes, c.state);
  f.integer("busy_ms", -1, kMaxBusyMs, c.busy_ms);
  f.integer("pid", 1, kMaxPid, c.pid);
  f.string("code", kMaxErrorCodeBytes, c.code);
  f.string("message", kMaxErrorMessageBytes, c.message, Text::kAny);
  f.boolean("fatal", c.fatal);
  f.integer("frames", 0, kMaxCounter, c.frames);
  f.integer("errors", 0, kMaxCounter, c.errors);
  f.integer("results_sent", 0, kMaxCounter, c.results_sent);
  f.integer("results_dropped", 0, kMaxCounter, c.results_dropped);
  f.integer("motion_frames", 0, kMaxCounter, c.motion_frames);
  f.integer("motion_passed", 0, kMaxCounter, c.motion_passed);
  f.integer("motion_skipped", 0, kMaxCounter, c.motion_skipped);
  if (!f.ok()) return f.error();
  if (c.type.empty()) return make_error(kBadMessage, "field 'type' is empty");
  if (c.type == "hello") {
    if (auto v = read_version(*j, "protocol", "hello", "the control protocol version", c.protocol);
        !v.ok())
      return v.error();
    if (auto v = read_version(*j, "abi", "hello", "the shared-memory ABI version", c.abi); !v.ok())
      return v.error();
  }
  c.raw = std::string(line);
  return c;
}

Status check_hello(const ControlMessage& hello) {
  const bool protocol_ok = hello.protocol == kProtocolVersion;
  const bool abi_ok =
      std::find(std::begin(ipc::kCompatibleAbiVersions), std::end(ipc::kCompatibleAbiVersions),
                static_cast<uint32_t>(hello.abi)) != std::end(ipc::kCompatibleAbiVersions) &&
      hello.abi > 0;
  if (protocol_ok && abi_ok) return {};
  return make_error("protocol.mismatch",
                    "worker speaks protocol " + std::to_string(hello.protocol) + ", ABI " +
                        std::to_string(hello.abi) + "; this engine speaks protocol " +
                        std::to_string(kProtocolVersion) + ", ABI " +
                        std::to_string(ipc::kAbiVersion));
}

std::string encode_heartbeat(uint64_t seq) {
  return detail::to_line(json{{"type", "heartbeat"}, {"seq", seq}});
}

std::string encode_simple(std::string_view type) {
  return detail::to_line(json{{"type", std::string(type)}});
}

std::string encode_hello(int64_t pid) {
  return detail::to_line(json{
      {"type", "hello"}, {"pid", pid}, {"protocol", kProtocolVersion}, {"abi", ipc::kAbiVersion}});
}

std::string encode_ready(const ReadyModel& m) {
  return detail::to_line(json{{"type", "ready"},
                              {"model",
                               {{"kind", m.kind},
                                {"path", m.path},
                                {"input_width", m.input_width},
                                {"input_height", m.input_height},
                                {"classes", m.classes}}}});
}

std::string encode_heartbeat_reply(uint64_t seq, const WorkerCounters& c) {
  json j = {{"type", "heartbeat"}, {"seq", seq}};
  j.update(counters_json(c));
  return detail::to_line(j);
}

std::string encode_counters(std::string_view type, const WorkerCounters& c) {
  json j = {{"type", std::string(type)}};
  j.update(counters_json(c));
  return detail::to_line(j);
}

std::string encode_error(const Error& e, bool fatal) {
  return detail::to_line(json{{"type", "error"},
                              {"code", detail::cut_utf8(e.code, kMaxErrorCodeBytes)},
                              {"message", detail::cut_utf8(e.message, kMaxErrorMessageBytes)},
                              {"fatal", fatal}});
}

}  // namespace orion::protocol
