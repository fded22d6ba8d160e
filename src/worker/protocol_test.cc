// Engine <-> worker messages: round trips, and every malformed message is a clear Error.
#include "worker/protocol.h"

#include <gtest/gtest.h>

namespace orion::worker {
namespace {

TEST(WorkerProtocolTest, ConfigureRoundTrips) {
  WorkerConfig c;
  c.pipeline = "people";
  c.stream = "cam1";
  c.stream_id = 4;
  c.sla = "critical";
  c.model.kind = "yolox";
  c.model.path = "models/yolox_nano.onnx";
  c.model.classes = {"person"};
  c.min_score = 0.3f;
  auto d = decode_configure(encode_configure(c));
  ASSERT_TRUE(d.ok()) << d.error().to_string();
  EXPECT_EQ(d->pipeline, "people");
  EXPECT_EQ(d->stream_id, 4u);
  EXPECT_EQ(d->model.kind, "yolox");
  EXPECT_EQ(d->model.classes, std::vector<std::string>{"person"});
  EXPECT_FLOAT_EQ(d->min_score, 0.3f);
  EXPECT_EQ(d->pool_fd, 3);
}

TEST(WorkerProtocolTest, ConfigureErrorsNameTheField) {
  auto e = decode_configure(
      R"({"type":"configure","pipeline":"p","model":{"kind":"hog"},"min_score":"high"})");
  ASSERT_FALSE(e.ok());
  EXPECT_EQ(e.error().code, "protocol.bad_message");
  EXPECT_NE(e.error().message.find("min_score"), std::string::npos);
  e = decode_configure(R"({"type":"configure","pipeline":"p"})");
  ASSERT_FALSE(e.ok());
  EXPECT_NE(e.error().message.find("model"), std::string::npos);
  e = decode_configure(
      R"({"type":"configure","protocol":2,"pipeline":"p","model":{"kind":"hog"}})");
  ASSERT_FALSE(e.ok());
  EXPECT_NE(e.error().message.find("protocol version 2"), std::string::npos);
  e = decode_configure("{not json");
  ASSERT_FALSE(e.ok());
  EXPECT_EQ(e.error().code, "protocol.bad_json");
}

TEST(WorkerProtocolTest, MotionGateIsSentOnlyWhenOnAndRoundTrips) {
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
  c.motion_gate.max_skipped_in_row = 7;
  d = decode_configure(encode_configure(c));
  ASSERT_TRUE(d.ok()) << d.error().to_string();
  EXPECT_TRUE(d->motion_gate.enabled);
  EXPECT_DOUBLE_EQ(d->motion_gate.min_motion_fraction, 0.01);
  EXPECT_EQ(d->motion_gate.analysis_width, 160);
  EXPECT_EQ(d->motion_gate.history, 30);
  EXPECT_EQ(d->motion_gate.max_skipped_in_row, 7);
  EXPECT_DOUBLE_EQ(d->motion_gate.var_threshold, c.motion_gate.var_threshold);
  EXPECT_DOUBLE_EQ(d->motion_gate.learning_rate, c.motion_gate.learning_rate);

  // An empty object turns the gate on with the defaults; {"enabled":false} keeps it off.
  const std::string head = R"({"type":"configure","pipeline":"p","model":{"kind":"fake"},)";
  d = decode_configure(head + R"("motion_gate":{}})");
  ASSERT_TRUE(d.ok()) << d.error().to_string();
  EXPECT_TRUE(d->motion_gate.enabled);
  EXPECT_EQ(d->motion_gate.max_skipped_in_row, infer::MotionGateConfig{}.max_skipped_in_row);
  d = decode_configure(head + R"("motion_gate":{"enabled":false}})");
  ASSERT_TRUE(d.ok()) << d.error().to_string();
  EXPECT_FALSE(d->motion_gate.enabled);

  for (const char* bad :
       {R"("motion_gate":true)", R"("motion_gate":{"history":0})",
        R"("motion_gate":{"analysis_width":-1})", R"("motion_gate":{"min_motion_fraction":2})",
        R"("motion_gate":{"max_skipped_in_row":-3})", R"("motion_gate":{"var_threshold":0})",
        R"("motion_gate":{"learning_rate":5})", R"("motion_gate":{"enabled":"yes"})"}) {
    auto e = decode_configure(head + bad + "}");
    ASSERT_FALSE(e.ok()) << bad;
    EXPECT_EQ(e.error().code, "protocol.bad_message") << bad;
    EXPECT_NE(e.error().message.find("motion_gate"), std::string::npos) << e.error().message;
  }
}

TEST(WorkerProtocolTest, ResultRoundTripsWithFrameIdentity) {
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
  EXPECT_EQ(d->detections[0].class_name, "person");
  EXPECT_EQ(d->detections[0].box, (Box{1, 2, 30, 40}));
}

TEST(WorkerProtocolTest, MalformedResultsAreRefused) {
  const char* base = R"({"type":"result","stream":1,"sequence":3,"detections":[%s]})";
  auto with = [&](const std::string& det) {
    char buf[512];
    std::snprintf(buf, sizeof buf, base, det.c_str());
    return decode_result(buf);
  };
  EXPECT_TRUE(with(R"({"class_id":1,"class":"car","score":0.5,"box":[0,0,1,1]})").ok());
  for (const char* bad : {R"({"class_id":1,"score":1.5,"box":[0,0,1,1]})",
                          R"({"class_id":1,"score":0.5,"box":[0,0,1]})",
                          R"({"class_id":1,"score":0.5,"box":[0,0,1,null]})",
                          R"({"class_id":-5,"score":0.5,"box":[0,0,1,1]})",
                          R"({"class_id":"one","score":0.5,"box":[0,0,1,1]})", R"(7)"}) {
    auto r = with(bad);
    ASSERT_FALSE(r.ok()) << bad;
    EXPECT_EQ(r.error().code, "protocol.bad_result") << bad;
  }
  EXPECT_FALSE(
      decode_result(R"({"type":"result","stream":1,"detections":[]})").ok());  // no sequence
  EXPECT_FALSE(decode_result("[1,2]").ok());
  EXPECT_FALSE(decode_result(std::string(kMaxResultBytes + 1, ' ')).ok());
}

TEST(WorkerProtocolTest, ControlMessagesDecode) {
  auto m =
      decode_control(R"({"type":"heartbeat","seq":9,"state":"running","frames":5,"busy_ms":-1})");
  ASSERT_TRUE(m.ok());
  EXPECT_EQ(m->type, "heartbeat");
  EXPECT_EQ(m->seq, 9u);
  EXPECT_EQ(m->frames, 5u);
  EXPECT_EQ(m->motion_skipped, 0u);  // a worker without a gate (or an older one) sends none
  m = decode_control(
      R"({"type":"heartbeat","seq":1,"motion_frames":10,"motion_passed":3,"motion_skipped":7})");
  ASSERT_TRUE(m.ok());
  EXPECT_EQ(m->motion_frames, 10u);
  EXPECT_EQ(m->motion_passed, 3u);
  EXPECT_EQ(m->motion_skipped, 7u);
  EXPECT_FALSE(decode_control(R"({"type":"state","motion_skipped":"many"})").ok());
  auto e = decode_control(R"({"type":"error","code":"model.not_onnx","message":"x","fatal":true})");
  ASSERT_TRUE(e.ok());
  EXPECT_TRUE(e->fatal);
  EXPECT_EQ(e->code, "model.not_onnx");
  EXPECT_FALSE(decode_control(R"({"seq":1})").ok());
  EXPECT_EQ(decode_control(encode_heartbeat(3))->seq, 3u);
}

}  // namespace
}  // namespace orion::worker
