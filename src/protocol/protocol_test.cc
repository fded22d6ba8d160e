// Engine <-> worker messages: round trips, required versions, and every malformed, oversized or
// out-of-range message is a clear Error naming what was wrong (never an exception or a crash).
#include <gtest/gtest.h>

#include <cstdint>
#include <random>
#include <string>
#include <vector>

#include "ipc/layout.h"
#include "protocol/control.h"
#include "protocol/result.h"

namespace orion::protocol {
namespace {

// Expects `r` to fail with `code` and a message that contains `needle` (the field's name).
template <class T>
void expect_error(const Result<T>& r, const std::string& code, const std::string& needle,
                  const std::string& input) {
  ASSERT_FALSE(r.ok()) << "accepted: " << input;
  EXPECT_EQ(r.error().code, code) << input << " → " << r.error().to_string();
  EXPECT_NE(r.error().message.find(needle), std::string::npos)
      << input << " → " << r.error().to_string() << " (should name '" << needle << "')";
}

// ---- configure ----------------------------------------------------------------------------

const std::string kConfigureHead =
    R"({"type":"configure","protocol":1,"pipeline":"p","model":{"kind":"fake"})";

TEST(ProtocolConfigureTest, RoundTrips) {
  WorkerConfig c;
  c.pipeline = "people";
  c.stream = "cam1";
  c.stream_id = 4;
  c.sla = "critical";
  c.model.kind = "yolox";
  c.model.path = "models/yolox_nano.onnx";
  c.model.classes = {"person"};
  c.model.class_names = {"person", "caméra ✓", "a \"quoted\" \\ name"};
  c.model.input_width = 416;
  c.model.threads = 2;
  c.model.fake_delay_ms = 7;
  c.model.device = "cuda:1";
  c.min_score = 0.3f;
  c.iou = 0.5f;
  auto d = decode_configure(encode_configure(c));
  ASSERT_TRUE(d.ok()) << d.error().to_string();
  EXPECT_EQ(d->pipeline, "people");
  EXPECT_EQ(d->stream, "cam1");
  EXPECT_EQ(d->stream_id, 4u);
  EXPECT_EQ(d->sla, "critical");
  EXPECT_EQ(d->model.kind, "yolox");
  EXPECT_EQ(d->model.path, "models/yolox_nano.onnx");
  EXPECT_EQ(d->model.classes, std::vector<std::string>{"person"});
  EXPECT_EQ(d->model.class_names,
            (std::vector<std::string>{"person", "caméra ✓", "a \"quoted\" \\ name"}));
  EXPECT_EQ(d->model.input_width, 416);
  EXPECT_EQ(d->model.threads, 2);
  EXPECT_EQ(d->model.fake_delay_ms, 7);
  EXPECT_EQ(d->model.device, "cuda:1");
  EXPECT_FLOAT_EQ(d->min_score, 0.3f);
  EXPECT_FLOAT_EQ(d->iou, 0.5f);
  EXPECT_EQ(d->pool_fd, 3);
  EXPECT_EQ(d->mailbox_fd, 4);
  EXPECT_EQ(d->results_fd, 5);
}

TEST(ProtocolConfigureTest, TheDeviceIsOptionalAndKeptAsSent) {
  // Absent (a worker of an older engine): empty, the kind's default.
  auto absent = decode_configure(kConfigureHead + "}");
  ASSERT_TRUE(absent.ok()) << absent.error().to_string();
  EXPECT_EQ(absent->model.device, "");
  for (const char* device : {"cpu", "cuda", "cuda:0", "cuda:12"}) {
    const std::string line = R"({"type":"configure","protocol":1,"pipeline":"p","model":{"kind":)"
                             R"("fake","device":")" +
                             std::string(device) + "\"}}";
    auto d = decode_configure(line);
    ASSERT_TRUE(d.ok()) << line << " → " << d.error().to_string();
    EXPECT_EQ(d->model.device, device);
  }
}

TEST(ProtocolConfigureTest, InlineClassNamesUpToBothLimitsRoundTrip) {
  WorkerConfig c;
  c.pipeline = "p";
  c.model.kind = "yolox";
  const size_t each = kMaxClassNamesBytes / kMaxModelClassNames;  // both limits met exactly
  for (size_t i = 0; i < kMaxModelClassNames; ++i) {
    std::string name = "class_" + std::to_string(i);
    name.resize(each, 'x');
    c.model.class_names.push_back(name);
  }
  const std::string line = encode_configure(c);
  EXPECT_LT(line.size(), kMaxControlLineBytes);
  auto d = decode_configure(line);
  ASSERT_TRUE(d.ok()) << d.error().to_string();
  EXPECT_EQ(d->model.class_names, c.model.class_names);

  // Absent, null and [] all mean "no inline names".
  for (const char* names : {"", R"(,"class_names":null)", R"(,"class_names":[])"}) {
    auto e = decode_configure(std::string(R"({"type":"configure","protocol":1,"pipeline":"p",)") +
                              R"("model":{"kind":"fake")" + names + "}}");
    ASSERT_TRUE(e.ok()) << e.error().to_string();
    EXPECT_TRUE(e->model.class_names.empty());
  }
}

TEST(ProtocolConfigureTest, TheProtocolVersionIsRequired) {
  const std::string body = R"("pipeline":"p","model":{"kind":"hog"}})";
  expect_error(decode_configure(R"({"type":"configure",)" + body), "protocol.missing_version",
               "'protocol'", "no protocol");
  for (const char* v : {R"("1")", "1.0", "true", "null", "[1]"}) {
    const std::string line = std::string(R"({"type":"configure","protocol":)") + v + "," + body;
    expect_error(decode_configure(line), "protocol.missing_version", "'protocol'", line);
  }
  expect_error(decode_configure(R"({"type":"configure","protocol":2,)" + body),
               "protocol.bad_message", "protocol version 2", "protocol 2");
  expect_error(decode_configure(R"({"type":"configure","protocol":0,)" + body),
               "protocol.bad_message", "protocol", "protocol 0");
}

TEST(ProtocolConfigureTest, EveryBadFieldIsNamed) {
  struct Case {
    std::string fields;  // appended after kConfigureHead
    std::string needle;
  };
  const std::string long_name(kMaxNameBytes + 1, 'n');
  const std::string long_path(kMaxPathBytes + 1, 'p');
  std::string many_classes = "[";
  for (size_t i = 0; i <= kMaxConfiguredClasses; ++i) many_classes += (i ? ",\"c\"" : "\"c\"");
  many_classes += "]";
  std::string many_names = "[";
  for (size_t i = 0; i <= kMaxModelClassNames; ++i) many_names += (i ? ",\"c\"" : "\"c\"");
  many_names += "]";
  // Names of kMaxNameBytes each, one more than kMaxClassNamesBytes allows in all.
  std::string heavy_names = "[";
  for (size_t i = 0; i <= kMaxClassNamesBytes / kMaxNameBytes; ++i) {
    heavy_names += (i ? ",\"" : "\"") + std::string(kMaxNameBytes, 'h') + "\"";
  }
  heavy_names += "]";
  const std::vector<Case> cases = {
      {R"(,"min_score":"high")", "min_score"},
      {R"(,"min_score":1.5)", "min_score"},
      {R"(,"iou":-0.1)", "iou"},
      {R"(,"stream_id":-1)", "stream_id"},
      {R"(,"stream_id":4294967296)", "stream_id"},
      {R"(,"stream_id":1.5)", "stream_id"},
      {R"(,"pool_fd":-1)", "pool_fd"},
      {R"(,"mailbox_fd":2147483648)", "mailbox_fd"},
      {R"(,"results_fd":"five")", "results_fd"},
      {R"(,"sla":"urgent")", "sla"},
      {R"(,"stream":")" + long_name + "\"", "stream"},
      {R"(,"stream":"a\nb")", "stream"},
      {R"(,"model":{"kind":"fake","input_width":16385})", "model.input_width"},
      {R"(,"model":{"kind":"fake","input_height":-1})", "model.input_height"},
      {R"(,"model":{"kind":"fake","threads":100000})", "model.threads"},
      {R"(,"model":{"kind":"fake","fake_delay_ms":-5})", "model.fake_delay_ms"},
      {R"(,"model":{"kind":"fake","path":")" + long_path + "\"}", "model.path"},
      {R"(,"model":{"kind":"fake","classes":)" + many_classes + "}", "model.classes"},
      {R"(,"model":{"kind":"fake","classes":[1]})", "model.classes[0]"},
      {R"(,"model":{"kind":"fake","classes":["ok",")" + long_name + "\"]}", "model.classes[1]"},
      {R"(,"model":{"kind":"fake","class_names":)" + many_names + "}", "model.class_names"},
      {R"(,"model":{"kind":"fake","class_names":)" + heavy_names + "}",
       "model.class_names' holds more than 131072 bytes"},
      {R"(,"model":{"kind":"fake","class_names":"person"})", "model.class_names"},
      {R"(,"model":{"kind":"fake","class_names":{"0":"person"}})", "model.class_names"},
      {R"(,"model":{"kind":"fake","class_names":["a",2]})", "model.class_names[1]"},
      {R"(,"model":{"kind":"fake","class_names":["a",null]})", "model.class_names[1]"},
      {R"(,"model":{"kind":"fake","class_names":["a",["b"]]})", "model.class_names[1]"},
      {R"(,"model":{"kind":"fake","class_names":["a",""]})", "model.class_names[1]"},
      {R"(,"model":{"kind":"fake","class_names":["a","b\tc"]})", "model.class_names[1]"},
      {R"(,"model":{"kind":"fake","class_names":["ok",")" + long_name + "\"]}",
       "model.class_names[1]"},
      {R"(,"model":{"kind":"fake","device":"gpu0"})", "model.device': 'gpu0' is not a device"},
      {R"(,"model":{"kind":"fake","device":"cuda:-1"})", "model.device': 'cuda:-1'"},
      {R"(,"model":{"kind":"fake","device":"cuda:x"})", "model.device': 'cuda:x'"},
      {R"(,"model":{"kind":"fake","device":0})", "model.device"},
      {R"(,"model":{"kind":"fake","device":"cuda:0\n"})", "model.device"},
      {R"(,"model":{"kind":"fake","device":")" + long_name + "\"}", "model.device"},
      {R"(,"model":{"kind":7})", "model.kind"},
      {R"(,"model":{"kind":""})", "model.kind"},
      {R"(,"model":{})", "model.kind"},
      {R"(,"model":"yolox")", "model"},
  };
  for (const auto& c : cases) {
    // A later duplicate "model" would be refused as a duplicate key: replace the head's.
    std::string line = kConfigureHead;
    if (c.fields.rfind(R"(,"model")", 0) == 0)
      line = R"({"type":"configure","protocol":1,"pipeline":"p")";
    line += c.fields + "}";
    expect_error(decode_configure(line), "protocol.bad_message", c.needle, line);
  }
  expect_error(decode_configure(R"({"type":"configure","protocol":1,"pipeline":"p"})"),
               "protocol.bad_message", "model", "no model");
  expect_error(decode_configure(R"({"type":"configure","protocol":1,"model":{"kind":"fake"}})"),
               "protocol.bad_message", "pipeline", "no pipeline");
  expect_error(decode_configure(R"({"type":"heartbeat","protocol":1})"), "protocol.bad_message",
               "configure", "another type");
  expect_error(decode_configure("{not json"), "protocol.bad_json", "not valid JSON", "garbage");
}

TEST(ProtocolConfigureTest, MotionGateIsSentOnlyWhenOnAndRoundTrips) {
  WorkerConfig c;
  c.pipeline = "door";
  c.model.kind = "fake";
  const std::string off = encode_configure(c);
  EXPECT_EQ(off.find("motion_gate"), std::string::npos) << off;  // absent = disabled
  auto d = decode_configure(off);
  ASSERT_TRUE(d.ok()) << d.error().to_string();
  EXPECT_FALSE(d->motion_gate.enabled);

  c.motion_gate.enabled = true;
  c.motion_gate.min_motion_fraction = 0.01;
  c.motion_gate.analysis_width = 160;
  c.motion_gate.history = 30;
  c.motion_gate.var_threshold = 20;
  c.motion_gate.learning_rate = 0.25;
  c.motion_gate.max_skipped_in_row = 7;
  d = decode_configure(encode_configure(c));
  ASSERT_TRUE(d.ok()) << d.error().to_string();
  EXPECT_EQ(d->motion_gate, c.motion_gate);

  // An empty object turns the gate on with the defaults; {"enabled":false} keeps it off.
  d = decode_configure(kConfigureHead + R"(,"motion_gate":{}})");
  ASSERT_TRUE(d.ok()) << d.error().to_string();
  MotionGateSettings on;
  on.enabled = true;
  EXPECT_EQ(d->motion_gate, on);
  d = decode_configure(kConfigureHead + R"(,"motion_gate":{"enabled":false}})");
  ASSERT_TRUE(d.ok()) << d.error().to_string();
  EXPECT_FALSE(d->motion_gate.enabled);

  for (const char* bad :
       {R"("motion_gate":true)", R"("motion_gate":{"history":0})",
        R"("motion_gate":{"analysis_width":-1})", R"("motion_gate":{"analysis_width":1000001})",
        R"("motion_gate":{"min_motion_fraction":2})", R"("motion_gate":{"max_skipped_in_row":-3})",
        R"("motion_gate":{"var_threshold":0})", R"("motion_gate":{"var_threshold":1e9})",
        R"("motion_gate":{"learning_rate":5})", R"("motion_gate":{"learning_rate":-0.5})",
        R"("motion_gate":{"history":2.5})", R"("motion_gate":{"enabled":"yes"})"}) {
    const std::string line = kConfigureHead + "," + bad + "}";
    expect_error(decode_configure(line), "protocol.bad_message", "motion_gate", line);
  }
}

// ---- control messages -----------------------------------------------------------------------

TEST(ProtocolControlTest, TheWorkersHelloCarriesBothVersionsAndPassesTheCheck) {
  auto m = decode_control(encode_hello(4242));
  ASSERT_TRUE(m.ok()) << m.error().to_string();
  EXPECT_EQ(m->type, "hello");
  EXPECT_EQ(m->pid, 4242);
  EXPECT_EQ(m->protocol, kProtocolVersion);
  EXPECT_EQ(m->abi, static_cast<int>(ipc::kAbiVersion));
  EXPECT_TRUE(check_hello(*m).ok());
}

TEST(ProtocolControlTest, AHelloWithoutAnIntegerVersionIsRefusedNamingTheField) {
  for (const auto& [line, field] : std::vector<std::pair<std::string, std::string>>{
           {R"({"type":"hello"})", "'protocol'"},
           {R"({"type":"hello","abi":1})", "'protocol'"},
           {R"({"type":"hello","protocol":1})", "'abi'"},
           {R"({"type":"hello","protocol":null,"abi":1})", "'protocol'"},
           {R"({"type":"hello","protocol":"1","abi":1})", "'protocol'"},
           {R"({"type":"hello","protocol":1.0,"abi":1})", "'protocol'"},
           {R"({"type":"hello","protocol":1,"abi":true})", "'abi'"},
           {R"({"type":"hello","protocol":1,"abi":[1]})", "'abi'"}}) {
    expect_error(decode_control(line), "protocol.missing_version", field, line);
  }
  // Out of range is malformed rather than missing; other messages need no version.
  expect_error(decode_control(R"({"type":"hello","protocol":-1,"abi":1})"), "protocol.bad_message",
               "protocol", "negative");
  expect_error(decode_control(R"({"type":"hello","protocol":1,"abi":4294967297})"),
               "protocol.bad_message", "abi", "huge");
  EXPECT_TRUE(decode_control(R"({"type":"ready"})").ok());
}

TEST(ProtocolControlTest, OtherVersionsAreAMismatch) {
  for (const char* line :
       {R"({"type":"hello","protocol":99,"abi":1})", R"({"type":"hello","protocol":1,"abi":2})"}) {
    auto m = decode_control(line);
    ASSERT_TRUE(m.ok()) << line << ": " << m.error().to_string();
    auto st = check_hello(*m);
    ASSERT_FALSE(st.ok()) << line;
    EXPECT_EQ(st.error().code, "protocol.mismatch");
    const std::string ours = "this engine speaks protocol " + std::to_string(kProtocolVersion) +
                             ", ABI " + std::to_string(ipc::kAbiVersion);
    EXPECT_NE(st.error().message.find(ours), std::string::npos) << st.error().message;
  }
}

TEST(ProtocolControlTest, HeartbeatRepliesRoundTripWithEveryCounter) {
  WorkerCounters c;
  c.state = "running";
  c.frames = 5;
  c.errors = 1;
  c.results_sent = 4;
  c.results_dropped = 1;
  c.busy_ms = 12;
  c.motion_frames = 10;
  c.motion_passed = 3;
  c.motion_skipped = 7;
  auto m = decode_control(encode_heartbeat_reply(9, c));
  ASSERT_TRUE(m.ok()) << m.error().to_string();
  EXPECT_EQ(m->type, "heartbeat");
  EXPECT_EQ(m->seq, 9u);
  EXPECT_EQ(m->state, "running");
  EXPECT_EQ(m->frames, 5u);
  EXPECT_EQ(m->errors, 1u);
  EXPECT_EQ(m->results_sent, 4u);
  EXPECT_EQ(m->results_dropped, 1u);
  EXPECT_EQ(m->busy_ms, 12);
  EXPECT_EQ(m->motion_frames, 10u);
  EXPECT_EQ(m->motion_passed, 3u);
  EXPECT_EQ(m->motion_skipped, 7u);
  auto s = decode_control(encode_counters("stopped", c));
  ASSERT_TRUE(s.ok()) << s.error().to_string();
  EXPECT_EQ(s->type, "stopped");
  EXPECT_EQ(s->motion_skipped, 7u);
  // What a worker cannot honestly have is clamped so that the line still decodes.
  c.busy_ms = int64_t{1} << 40;
  c.frames = UINT64_MAX;
  m = decode_control(encode_counters("state", c));
  ASSERT_TRUE(m.ok()) << m.error().to_string();
  EXPECT_EQ(m->busy_ms, kMaxBusyMs);
  EXPECT_EQ(m->frames, static_cast<uint64_t>(kMaxCounter));
  // A worker without a gate (or an older one) sends no motion counters: 0.
  m = decode_control(R"({"type":"heartbeat","seq":9,"state":"running","frames":5,"busy_ms":-1})");
  ASSERT_TRUE(m.ok());
  EXPECT_EQ(m->motion_skipped, 0u);
  EXPECT_EQ(decode_control(encode_heartbeat(3))->seq, 3u);
}

TEST(ProtocolControlTest, BusyMsCountersSeqAndPidAreRangeChecked) {
  const std::string max_counter = std::to_string(kMaxCounter);
  const std::string over_counter = std::to_string(kMaxCounter + 1);
  for (const std::string& ok :
       std::vector<std::string>{R"("busy_ms":-1)", R"("busy_ms":0)", R"("busy_ms":86400000)",
                                R"("seq":0)", R"("frames":)" + max_counter, R"("motion_skipped":0)",
                                R"("pid":1)", R"("pid":2147483647)"}) {
    const std::string line = R"({"type":"heartbeat",)" + ok + "}";
    EXPECT_TRUE(decode_control(line).ok()) << line;
  }
  const std::vector<std::pair<std::string, std::string>> bad = {
      {R"("busy_ms":-2)", "busy_ms"},
      {R"("busy_ms":86400001)", "busy_ms"},
      {R"("busy_ms":9223372036854775807)", "busy_ms"},
      {R"("busy_ms":1.5)", "busy_ms"},
      {R"("busy_ms":"idle")", "busy_ms"},
      {R"("seq":-1)", "seq"},
      {R"("seq":)" + over_counter, "seq"},
      {R"("pid":0)", "pid"},
      {R"("pid":-7)", "pid"},
      {R"("pid":2147483648)", "pid"},
      {R"("frames":-1)", "frames"},
      {R"("frames":)" + over_counter, "frames"},
      {R"("frames":18446744073709551615)", "frames"},
      {R"("frames":1e3)", "frames"},
      {R"("errors":-1)", "errors"},
      {R"("results_sent":"many")", "results_sent"},
      {R"("results_dropped":)" + over_counter, "results_dropped"},
      {R"("motion_frames":-3)", "motion_frames"},
      {R"("motion_passed":0.5)", "motion_passed"},
      {R"("motion_skipped":"many")", "motion_skipped"},
      {R"("fatal":1)", "fatal"},
  };
  for (const auto& [field, name] : bad) {
    const std::string line = R"({"type":"heartbeat",)" + field + "}";
    expect_error(decode_control(line), "protocol.bad_message", name, line);
  }
}

TEST(ProtocolControlTest, StringsAreLengthBounded) {
  const std::vector<std::pair<std::string, std::string>> bad = {
      {R"({"seq":1})", "type"},
      {R"({"type":""})", "type"},
      {R"({"type":7})", "type"},
      {R"({"type":")" + std::string(kMaxTypeBytes + 1, 't') + "\"}", "type"},
      {R"({"type":"hel\u0000lo"})", "type"},
      {R"({"type":"state","state":")" + std::string(kMaxTypeBytes + 1, 's') + "\"}", "state"},
      {R"({"type":"error","code":")" + std::string(kMaxErrorCodeBytes + 1, 'c') + "\"}", "code"},
      {R"({"type":"error","message":")" + std::string(kMaxErrorMessageBytes + 1, 'm') + "\"}",
       "message"},
  };
  for (const auto& [line, name] : bad)
    expect_error(decode_control(line), "protocol.bad_message", name, line.substr(0, 60));
  // An error message may span lines (OpenCV's do).
  EXPECT_TRUE(decode_control(R"({"type":"error","message":"line 1\nline 2"})").ok());
}

TEST(ProtocolControlTest, ErrorsRoundTripAndLongMessagesAreCutNotLost) {
  auto e = decode_control(encode_error(make_error("model.not_onnx", "x"), true));
  ASSERT_TRUE(e.ok()) << e.error().to_string();
  EXPECT_EQ(e->type, "error");
  EXPECT_TRUE(e->fatal);
  EXPECT_EQ(e->code, "model.not_onnx");
  EXPECT_EQ(e->message, "x");
  // 4095 ASCII bytes then a 2-byte character: the cut falls before the character.
  const std::string long_message = std::string(kMaxErrorMessageBytes - 1, 'a') + "\xc3\xa9" + "z";
  e = decode_control(encode_error(make_error("worker.exception", long_message), true));
  ASSERT_TRUE(e.ok()) << e.error().to_string();
  EXPECT_EQ(e->message, std::string(kMaxErrorMessageBytes - 1, 'a'));
  // Bytes that are not UTF-8 (a Latin-1 path in an OS message) are replaced, not thrown.
  e = decode_control(encode_error(make_error("model.io", "cannot open '\xe9t\xe9.onnx'"), false));
  ASSERT_TRUE(e.ok()) << e.error().to_string();
  EXPECT_NE(e->message.find("t\xef\xbf\xbd.onnx"), std::string::npos) << e->message;
}

// ---- results -------------------------------------------------------------------------------

std::string result_with(const std::string& fields, const std::string& detections = "[]") {
  return R"({"type":"result",)" + fields + R"(,"detections":)" + detections + "}";
}
const std::string kIdentity =
    R"("stream":1,"sequence":3,"pts_ns":0,"capture_ns":10,"done_ns":20,"inference_ns":5)";
std::string detection_result(const std::string& detection) {
  return result_with(kIdentity, "[" + detection + "]");
}

TEST(ProtocolResultTest, RoundTripsWithFrameIdentity) {
  DetectionResult r;
  r.frame = FrameIdentity{2, 77, Duration::millis(2541), Timestamp::from_nanos(123456789)};
  r.done_time = Timestamp::from_nanos(223456789);
  r.inference_time = Duration::millis(12);
  r.detections.push_back(Detection{0, "person", 0.75f, Box{1, 2, 30, 40}});
  auto d = decode_result(encode_result(r));
  ASSERT_TRUE(d.ok()) << d.error().to_string();
  EXPECT_EQ(d->frame, r.frame);
  EXPECT_EQ(d->done_time, r.done_time);
  EXPECT_EQ(d->inference_time, r.inference_time);
  ASSERT_EQ(d->detections.size(), 1u);
  EXPECT_EQ(d->detections[0].class_id, 0);
  EXPECT_EQ(d->detections[0].class_name, "person");
  EXPECT_FLOAT_EQ(d->detections[0].score, 0.75f);
  EXPECT_EQ(d->detections[0].box, (Box{1, 2, 30, 40}));
}

TEST(ProtocolResultTest, TheEncoderStaysWithinTheLimits) {
  DetectionResult r;
  r.frame = FrameIdentity{1, 1, Duration::nanos(0), Timestamp::from_nanos(1)};
  for (size_t i = 0; i < kMaxDetectionsPerResult + 50; ++i)
    r.detections.push_back(Detection{1, std::string(i == 0 ? kMaxClassNameBytes + 10 : 1, 'k'),
                                     0.5f, Box{0, 0, 1, 1}});
  auto d = decode_result(encode_result(r));
  ASSERT_TRUE(d.ok()) << d.error().to_string();
  EXPECT_EQ(d->detections.size(), kMaxDetectionsPerResult);
  EXPECT_EQ(d->detections[0].class_name.size(), kMaxClassNameBytes);
}

TEST(ProtocolResultTest, TheFrameIdentityIsRequiredAndRangeChecked) {
  EXPECT_TRUE(decode_result(result_with(kIdentity)).ok());
  EXPECT_TRUE(decode_result(result_with(R"("stream":4294967295,"sequence":9223372036854775807,)"
                                        R"("pts_ns":-9223372036854775808,"capture_ns":0,)"
                                        R"("done_ns":9223372036854775807,"inference_ns":0)"))
                  .ok());
  for (const char* missing :
       {"stream", "sequence", "pts_ns", "capture_ns", "done_ns", "inference_ns"}) {
    std::string fields = kIdentity;
    const std::string key = std::string("\"") + missing + "\"";
    const size_t at = fields.find(key);
    fields.replace(at, key.size(), "\"other\"");
    expect_error(decode_result(result_with(fields)), "protocol.bad_result", missing, fields);
  }
  const std::string base =
      R"("stream":1,"sequence":3,"pts_ns":0,"capture_ns":10,"done_ns":20,"inference_ns":5)";
  const std::vector<std::pair<std::string, std::string>> bad = {
      {"\"stream\":-1", "stream"},
      {"\"stream\":4294967296", "stream"},
      {"\"sequence\":0", "sequence"},
      {"\"sequence\":-1", "sequence"},
      {"\"sequence\":9223372036854775808", "sequence"},  // 2^63: would outrank every honest one
      {"\"sequence\":18446744073709551615", "sequence"},
      {"\"sequence\":3.0", "sequence"},
      {"\"pts_ns\":9223372036854775808", "pts_ns"},
      {"\"pts_ns\":-9223372036854775809", "pts_ns"},  // parsed as a float: not an integer
      {"\"capture_ns\":-1", "capture_ns"},
      {"\"done_ns\":-1", "done_ns"},
      {"\"done_ns\":\"now\"", "done_ns"},
      {"\"inference_ns\":-5", "inference_ns"},
      {"\"inference_ns\":1e30", "inference_ns"},
  };
  for (const auto& [field, name] : bad) {
    // Replace the field's value in the base identity.
    std::string fields = base;
    const std::string key = "\"" + name + "\":";
    const size_t from = fields.find(key);
    const size_t to = fields.find(',', from);
    fields.replace(from, (to == std::string::npos ? fields.size() : to) - from, field);
    expect_error(decode_result(result_with(fields)), "protocol.bad_result", name, fields);
  }
  expect_error(decode_result(R"({"type":"heartbeat"})"), "protocol.bad_result", "result", "type");
  expect_error(decode_result(result_with(kIdentity, "{}")), "protocol.bad_result", "detections",
               "object");
  expect_error(decode_result(R"({"type":"result",)" + kIdentity + "}"), "protocol.bad_result",
               "detections", "none");
}

TEST(ProtocolResultTest, EveryBadDetectionIsNamed) {
  EXPECT_TRUE(
      decode_result(detection_result(R"({"class_id":1,"class":"car","score":0.5,"box":[0,0,1,1]})"))
          .ok());
  EXPECT_TRUE(decode_result(detection_result(R"({"score":1,"box":[-1e30,-1e7,1e7,3e38]})")).ok());
  const std::string long_class(kMaxClassNameBytes + 1, 'k');
  const std::vector<std::pair<std::string, std::string>> bad = {
      {R"({"class_id":1,"score":1.5,"box":[0,0,1,1]})", "detections[0].score"},
      {R"({"class_id":1,"score":-0.1,"box":[0,0,1,1]})", "detections[0].score"},
      {R"({"class_id":1,"box":[0,0,1,1]})", "detections[0].score"},
      {R"({"class_id":1,"score":0.5})", "detections[0].box"},
      {R"({"class_id":1,"score":0.5,"box":[0,0,1]})", "detections[0].box"},
      {R"({"class_id":1,"score":0.5,"box":[0,0,1,1,1]})", "detections[0].box"},
      {R"({"class_id":1,"score":0.5,"box":[0,0,1,null]})", "detections[0].box[3]"},
      {R"({"class_id":1,"score":0.5,"box":[0,"0",1,1]})", "detections[0].box[1]"},
      {R"({"class_id":1,"score":0.5,"box":[0,0,1e39,1]})", "detections[0].box[2]"},
      {R"({"class_id":1,"score":0.5,"box":[-1e39,0,1,1]})", "detections[0].box[0]"},
      {R"({"class_id":1,"score":0.5,"box":{"x1":0}})", "detections[0].box"},
      {R"({"class_id":-5,"score":0.5,"box":[0,0,1,1]})", "detections[0].class_id"},
      {R"({"class_id":2147483648,"score":0.5,"box":[0,0,1,1]})", "detections[0].class_id"},
      {R"({"class_id":"one","score":0.5,"box":[0,0,1,1]})", "detections[0].class_id"},
      {R"({"class":")" + long_class + R"(","score":0.5,"box":[0,0,1,1]})", "detections[0].class"},
      {R"({"class":"car\nbus","score":0.5,"box":[0,0,1,1]})", "detections[0].class"},
      {R"({"class":7,"score":0.5,"box":[0,0,1,1]})", "detections[0].class"},
      {R"(7)", "detections[0]"},
  };
  for (const auto& [det, name] : bad)
    expect_error(decode_result(detection_result(det)), "protocol.bad_result", name, det);
  // The second detection is named, not the first.
  expect_error(decode_result(result_with(kIdentity, R"([{"score":0.5,"box":[0,0,1,1]},)"
                                                    R"({"score":2,"box":[0,0,1,1]}])")),
               "protocol.bad_result", "detections[1].score", "second");
}

TEST(ProtocolResultTest, TooManyDetectionsOrTooManyBytesAreRefused) {
  auto many = [](size_t n) {
    std::string dets = "[";
    for (size_t i = 0; i < n; ++i)
      dets += std::string(i ? "," : "") + R"({"score":0,"box":[0,0,0,0]})";
    return result_with(kIdentity, dets + "]");
  };
  EXPECT_TRUE(decode_result(many(kMaxDetectionsPerResult)).ok());
  expect_error(decode_result(many(kMaxDetectionsPerResult + 1)), "protocol.bad_result",
               "detections", std::to_string(kMaxDetectionsPerResult + 1) + " detections");
  const std::string padded = result_with(kIdentity) + std::string(kMaxResultBytes, ' ');
  expect_error(decode_result(padded), "protocol.bad_result", "exceeds the limit", "oversized");
  expect_error(decode_control(std::string(kMaxControlLineBytes + 1, ' ')), "protocol.bad_message",
               "exceeds the limit", "oversized line");
}

// ---- what any decoder must survive -----------------------------------------------------------

// Runs every decoder on `text`; each must return an error (or, for decode_control, possibly a
// value), never throw or crash.
void decode_everything(const std::string& text) {
  (void)decode_control(text);
  (void)decode_configure(text);
  (void)decode_result(text);
}

TEST(ProtocolGarbageTest, GarbageIsBadJsonNeverAnException) {
  const std::vector<std::string> garbage = {
      "",
      " ",
      "{",
      "}",
      "[]",
      "null",
      "42",
      "\"a string\"",
      "{}x",
      "{} {}",
      "{\"type\":\"hello\",}",
      "{'type':'hello'}",
      "{\"type\":\"heartbeat\",\"seq\":NaN}",
      "{\"type\":\"heartbeat\",\"seq\":Infinity}",
      "{\"type\":\"heartbeat\",\"busy_ms\":1e400}",
      "/* comment */ {\"type\":\"state\"}",
      std::string("{\"type\":\"state\"\0}", 17),
      "\xff\xfe{\"type\":\"state\"}",
      "{\"type\":\"st\xc3\x28te\"}",  // invalid UTF-8 inside a string
  };
  for (const auto& g : garbage) {
    auto c = decode_control(g);
    ASSERT_FALSE(c.ok()) << "accepted garbage: " << g;
    EXPECT_EQ(c.error().code, "protocol.bad_json") << g << " → " << c.error().to_string();
    auto r = decode_result(g);
    ASSERT_FALSE(r.ok()) << g;
    EXPECT_EQ(r.error().code, "protocol.bad_json") << g;
    auto k = decode_configure(g);
    ASSERT_FALSE(k.ok()) << g;
    EXPECT_EQ(k.error().code, "protocol.bad_json") << g;
    // The excerpt in the message is printable whatever the input was.
    for (char ch : c.error().message)
      EXPECT_TRUE(static_cast<unsigned char>(ch) >= 0x20 && static_cast<unsigned char>(ch) < 0x7f)
          << c.error().message;
  }
  // Random bytes, and random bytes inside an otherwise valid message, of every length.
  std::mt19937 rng(9);
  for (int i = 0; i < 2000; ++i) {
    std::string bytes(static_cast<size_t>(rng() % 300), '\0');
    for (char& ch : bytes) ch = static_cast<char>(rng());
    decode_everything(bytes);
    std::string mutated = encode_hello(1);
    mutated[rng() % mutated.size()] = static_cast<char>(rng());
    decode_everything(mutated);
  }
}

TEST(ProtocolGarbageTest, DeeplyNestedMessagesAreRefused) {
  // A depth bomb as big as a message may be: refused, quickly, without recursion.
  const std::string bomb(kMaxResultBytes, '[');
  expect_error(decode_result(bomb), "protocol.bad_json", "nested deeper", "bomb");
  expect_error(decode_control(std::string(kMaxControlLineBytes / 2, '[') +
                              std::string(kMaxControlLineBytes / 2, ']')),
               "protocol.bad_json", "nested deeper", "balanced bomb");
  // The message object is level 1: 15 more levels are fine, 16 are not.
  auto nested = [](int levels) {
    return R"({"type":"state","x":)" + std::string(static_cast<size_t>(levels), '[') +
           std::string(static_cast<size_t>(levels), ']') + "}";
  };
  EXPECT_TRUE(decode_control(nested(15)).ok());
  expect_error(decode_control(nested(16)), "protocol.bad_json", "nested deeper", "16 levels");
  std::string objects = R"({"type":"state","x":)";
  for (int i = 0; i < 40; ++i) objects += R"({"y":)";
  objects += "1" + std::string(40, '}') + "}";
  expect_error(decode_control(objects), "protocol.bad_json", "nested deeper", "objects");
}

TEST(ProtocolGarbageTest, DuplicateKeysAreRefused) {
  expect_error(decode_control(R"({"type":"heartbeat","seq":1,"seq":2})"), "protocol.bad_json",
               "duplicate key 'seq'", "seq twice");
  expect_error(decode_control(R"({"type":"hello","protocol":1,"abi":1,"protocol":2})"),
               "protocol.bad_json", "duplicate key 'protocol'", "protocol twice");
  expect_error(decode_control(R"({"type":"state","type":"stop"})"), "protocol.bad_json",
               "duplicate key 'type'", "type twice");
  expect_error(decode_result(detection_result(R"({"score":0.1,"score":0.9,"box":[0,0,1,1]})")),
               "protocol.bad_json", "duplicate key 'score'", "nested");
  expect_error(decode_configure(kConfigureHead + R"(,"pipeline":"q"})"), "protocol.bad_json",
               "duplicate key 'pipeline'", "configure");
  // The same key in two different objects is not a duplicate.
  EXPECT_TRUE(decode_result(result_with(kIdentity, R"([{"score":0.1,"box":[0,0,1,1]},)"
                                                   R"({"score":0.2,"box":[0,0,1,1]}])"))
                  .ok());
}

TEST(ProtocolGarbageTest, UnknownFieldsAreIgnored) {
  auto m = decode_control(R"({"type":"heartbeat","seq":2,"future":{"a":[1,2]},"x":"y"})");
  ASSERT_TRUE(m.ok()) << m.error().to_string();
  EXPECT_EQ(m->seq, 2u);
  EXPECT_TRUE(decode_result(result_with(kIdentity + R"(,"extra":true)")).ok());
}

}  // namespace
}  // namespace orion::protocol
