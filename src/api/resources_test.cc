// The validator on its own: every check a body must pass, each refusal naming its field, and
// the same messages for a YAML import (a Source label and a field prefix).
#include "api/resources.h"

#include <gtest/gtest.h>

#include <string>
#include <utility>

namespace orion::api {
namespace {

using nlohmann::json;

json j(const char* text) { return json::parse(text); }

template <class T>
void expect_refused(const Checked<T>& r, const std::string& code, const std::string& field,
                    const std::string& words = "") {
  ASSERT_FALSE(r.ok()) << "accepted, expected " << code << " on " << field;
  EXPECT_EQ(r.error().status, 400);
  EXPECT_EQ(r.error().code, code) << r.error().message;
  EXPECT_EQ(r.error().field, field) << r.error().message;
  EXPECT_NE(r.error().message.find(field), std::string::npos) << r.error().message;
  if (!words.empty()) {
    EXPECT_NE(r.error().message.find(words), std::string::npos) << r.error().message;
  }
}

// ---- JSON text --------------------------------------------------------------------------------

TEST(ParseJsonText, RefusesMalformedJsonWithWhereItBroke) {
  auto r = parse_json_text(R"({"name": "a", )");
  expect_refused(r, "api.malformed_json", "", "not valid JSON");
  EXPECT_NE(r.error().message.find("column"), std::string::npos) << r.error().message;
  expect_refused(parse_json_text(""), "api.malformed_json", "");
  expect_refused(parse_json_text("{} {}"), "api.malformed_json", "");
}

TEST(ParseJsonText, RefusesDuplicateKeysAndDeepNesting) {
  expect_refused(parse_json_text(R"({"name":"a","name":"b"})"), "api.malformed_json", "",
                 "duplicate key 'name'");
  expect_refused(parse_json_text(R"({"events":{"classes":[],"classes":[]}})"), "api.malformed_json",
                 "", "duplicate key 'classes'");
  std::string deep(40, '[');
  deep += std::string(40, ']');
  expect_refused(parse_json_text(deep), "api.malformed_json", "", "nested deeper");
  // Same key in two different objects is fine.
  EXPECT_TRUE(parse_json_text(R"({"a":{"x":1},"b":{"x":2}})").ok());
}

TEST(ParseJsonText, MessagesNeverCarryAPassword) {
  auto r = parse_json_text(R"({"url": "rtsp://u:topsecret@h/s")");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().message.find("topsecret"), std::string::npos) << r.error().message;
}

// ---- names ------------------------------------------------------------------------------------

TEST(Names, AcceptTheSafeCharset) {
  for (const std::string& n :
       {std::string("cam1"), std::string("Lobby_2"), std::string("a.b-c"), std::string("x"),
        std::string("0"), std::string("-lead"), std::string(64, 'a')}) {
    EXPECT_TRUE(check_name_text(n, "name").ok()) << n;
  }
}

TEST(Names, RefuseTraversalControlCharactersAndOtherBytes) {
  const std::string nul("a\0b", 3);
  for (const std::string& n :
       {std::string("../etc"), std::string(".."), std::string(".hidden"), std::string("a/b"), nul,
        std::string("a\nb"), std::string("a\x7f"), std::string("a b"), std::string("caf\xc3\xa9"),
        std::string(""), std::string(65, 'a'), std::string("a%2Fb")}) {
    auto r = check_name_text(n, "name");
    expect_refused(r, "api.invalid_field", "name");
  }
  EXPECT_NE(check_name_text(nul, "name").error().message.find("0x00"), std::string::npos);
  EXPECT_NE(check_name_text("../x", "name").error().message.find("'/'"), std::string::npos);
}

// ---- streams ----------------------------------------------------------------------------------

TEST(Streams, FullRecordWithDefaults) {
  auto r = stream_from_json(j(R"({"name":"cam1","url":"rtsp://10.0.0.5/s"})"));
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(r->name, "cam1");
  EXPECT_EQ(r->url, "rtsp://10.0.0.5/s");
  EXPECT_TRUE(r->enabled);
  EXPECT_FALSE(r->loop);
  EXPECT_TRUE(r->tls_verify);
  auto all = stream_from_json(
      j(R"({"name":"f","url":"clips/a.mp4","enabled":false,"loop":true,"tls_verify":false})"));
  ASSERT_TRUE(all.ok()) << all.error().message;
  EXPECT_FALSE(all->enabled);
  EXPECT_TRUE(all->loop);
  EXPECT_FALSE(all->tls_verify);
}

TEST(Streams, UrlSchemesOnTheAllowList) {
  for (const char* u :
       {"rtsp://h/s", "rtsps://u:p@h:322/s", "file:///v/a.mp4", "clips/a.mp4", "/abs/a.mp4",
        "test://ball?width=320&height=240&fps=5", "test://", "v4l2:///dev/video0"}) {
    EXPECT_TRUE(check_stream_url(u, "url").ok())
        << u << ": " << check_stream_url(u, "url").error().message;
  }
  for (const char* u : {"http://h/s", "https://h/s", "rtmp://h/s", "javascript://x", "FILE:///a",
                        "rtspt://h/s", "udp://1.2.3.4:5"}) {
    auto r = check_stream_url(u, "url");
    expect_refused(r, "api.invalid_field", "url", "not allowed");
  }
}

TEST(Streams, UrlsParsedTheWayTheEngineWill) {
  expect_refused(check_stream_url("test://nosuchpattern", "url"), "api.invalid_field", "url",
                 "unknown test pattern");
  expect_refused(check_stream_url("test://ball?width=abc", "url"), "api.invalid_field", "url");
  expect_refused(check_stream_url("file://relative.mp4", "url"), "api.invalid_field", "url");
  expect_refused(check_stream_url("rtsp:///nohost", "url"), "api.invalid_field", "url");
  expect_refused(check_stream_url("rtsp://h/s with space", "url"), "api.invalid_field", "url");
  expect_refused(check_stream_url(std::string(2049, 'a'), "url"), "api.invalid_field", "url",
                 "at most 2048");
  expect_refused(check_stream_url(std::string("a\0b", 3), "url"), "api.invalid_field", "url",
                 "control character");
}

TEST(Streams, RedactedPasswordAndAmbiguousAtSignsRefused) {
  expect_refused(check_stream_url("rtsp://admin:***@h/s", "url"), "api.invalid_field", "url",
                 "redacted");
  auto r = check_stream_url("rtsp://u:pa/ss@h/s", "url");
  expect_refused(r, "api.invalid_field", "url", "percent-encode");
  EXPECT_EQ(r.error().message.find("pa/ss"), std::string::npos) << r.error().message;
}

TEST(Streams, ErrorsNameTheirFieldAndNeverShowThePassword) {
  expect_refused(stream_from_json(j(R"({"url":"rtsp://h/s"})")), "api.missing_field", "name");
  expect_refused(stream_from_json(j(R"({"name":"a"})")), "api.missing_field", "url");
  expect_refused(stream_from_json(j(R"({"name":"a","url":5})")), "api.wrong_type", "url");
  expect_refused(stream_from_json(j(R"({"name":7,"url":"a.mp4"})")), "api.wrong_type", "name");
  expect_refused(stream_from_json(j(R"({"name":"a","url":"a.mp4","loop":"yes"})")),
                 "api.wrong_type", "loop", "true or false");
  expect_refused(stream_from_json(j(R"({"name":"a","url":"a.mp4","enabled":null})")),
                 "api.wrong_type", "enabled");
  expect_refused(stream_from_json(j(R"({"name":"a","url":"a.mp4","lopo":true})")),
                 "api.unknown_field", "lopo", "unknown field");
  expect_refused(stream_from_json(j(R"({"name":"a","url":"a.mp4","version":3})")),
                 "api.read_only_field", "version");
  expect_refused(stream_from_json(j(R"({"name":"a","url":"a.mp4","state":"live"})")),
                 "api.read_only_field", "state");
  expect_refused(stream_from_json(j(R"(["name","a"])")), "api.wrong_type", "");
  auto r = stream_from_json(j(R"({"name":"a","url":"http://u:topsecret@h/s"})"));
  expect_refused(r, "api.invalid_field", "url");
  EXPECT_EQ(r.error().message.find("topsecret"), std::string::npos) << r.error().message;
}

TEST(Streams, StallTimeoutIsZeroForTheEngineDefaultOrHalfASecondToAnHour) {
  auto d = stream_from_json(j(R"({"name":"a","url":"rtsp://h/s"})"));
  ASSERT_TRUE(d.ok());
  EXPECT_EQ(d->stall_timeout_ms, 0);
  auto r = stream_from_json(j(R"({"name":"a","url":"rtsp://h/s","stall_timeout_s":2.5})"));
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(r->stall_timeout_ms, 2500);
  EXPECT_EQ(to_json(*r)["stall_timeout_s"], 2.5);
  expect_refused(stream_from_json(j(R"({"name":"a","url":"a.mp4","stall_timeout_s":"5"})")),
                 "api.wrong_type", "stall_timeout_s");
  expect_refused(stream_from_json(j(R"({"name":"a","url":"a.mp4","stall_timeout_s":0.1})")),
                 "api.invalid_field", "stall_timeout_s", "0.5..3600");
  expect_refused(stream_from_json(j(R"({"name":"a","url":"a.mp4","stall_timeout_s":4000})")),
                 "api.invalid_field", "stall_timeout_s");
}

TEST(Streams, AnswerRedactsTheUrl) {
  store::StreamRecord r;
  r.name = "cam";
  r.url = "rtsp://admin:hunter2@h/s";
  r.version = 4;
  const json out = to_json(r);
  EXPECT_EQ(out["url"], "rtsp://admin:***@h/s");
  EXPECT_EQ(out["version"], 4);
  EXPECT_EQ(out.dump().find("hunter2"), std::string::npos);
}

// ---- models -----------------------------------------------------------------------------------

TEST(Models, KindsPathsAndSizes) {
  auto ok = model_from_json(j(R"({"name":"y","kind":"yolox","path":"m.onnx","input_width":416,
                                 "input_height":416,"class_names":["person","car"]})"));
  ASSERT_TRUE(ok.ok()) << ok.error().message;
  EXPECT_EQ(ok->input_width, 416);
  EXPECT_EQ(ok->class_names.size(), 2u);
  EXPECT_TRUE(model_from_json(j(R"({"name":"h","kind":"hog"})")).ok());
  EXPECT_TRUE(model_from_json(j(R"({"name":"f","kind":"fake","input_width":0})")).ok());

  expect_refused(model_from_json(j(R"({"name":"y","kind":"resnet"})")), "api.invalid_field", "kind",
                 "yolov8, yolox, torch_yolov8, torch_yolox, hog or fake");
  expect_refused(model_from_json(j(R"({"name":"y","kind":"yolov8"})")), "api.missing_field",
                 "path");
  expect_refused(model_from_json(j(R"({"name":"h","kind":"hog","path":"x.onnx"})")),
                 "api.invalid_field", "path");
  for (const char* size : {"16", "31", "4097", "-1", "100000000000"}) {
    const std::string body =
        std::string(R"({"name":"y","kind":"fake","input_width":)") + size + "}";
    expect_refused(model_from_json(j(body.c_str())), "api.invalid_field", "input_width",
                   "32..4096");
  }
  expect_refused(model_from_json(j(R"({"name":"y","kind":"fake","input_height":320.5})")),
                 "api.wrong_type", "input_height", "integer");
  expect_refused(model_from_json(j(R"({"name":"y","kind":"fake","class_names":"person"})")),
                 "api.wrong_type", "class_names");
  expect_refused(model_from_json(j(R"({"name":"y","kind":"fake","class_names":["a",""]})")),
                 "api.invalid_field", "class_names[1]");
  json many = {{"name", "y"}, {"kind", "fake"}, {"class_names", json::array()}};
  for (int i = 0; i < 1001; ++i) many["class_names"].push_back("c" + std::to_string(i));
  expect_refused(model_from_json(many), "api.invalid_field", "class_names", "at most 1000");
}

TEST(Models, ThreadsAreAnIntegerInZeroTo1024) {
  auto dflt = model_from_json(j(R"({"name":"h","kind":"hog"})"));
  ASSERT_TRUE(dflt.ok()) << dflt.error().message;
  EXPECT_EQ(dflt->threads, 0);
  for (int n : {0, 1, 4, 1024}) {
    auto ok = model_from_json(json{{"name", "h"}, {"kind", "hog"}, {"threads", n}});
    ASSERT_TRUE(ok.ok()) << ok.error().message;
    EXPECT_EQ(ok->threads, n);
    EXPECT_EQ(to_json(*ok)["threads"], n);
  }
  for (const char* bad : {"-1", "1025", "100000000000", "18446744073709551615"}) {
    const std::string body = std::string(R"({"name":"h","kind":"hog","threads":)") + bad + "}";
    expect_refused(model_from_json(j(body.c_str())), "api.invalid_field", "threads",
                   "0 (the backend's default) or 1..1024");
  }
  expect_refused(model_from_json(j(R"({"name":"h","kind":"hog","threads":2.5})")), "api.wrong_type",
                 "threads", "integer");
  expect_refused(model_from_json(j(R"({"name":"h","kind":"hog","threads":"4"})")), "api.wrong_type",
                 "threads", "integer");
  expect_refused(model_from_json(j(R"({"name":"h","kind":"hog","threads":null})")),
                 "api.wrong_type", "threads", "integer");

  // PATCH: given replaces, null resets to 0.
  store::ModelRecord hog;
  hog.name = "h";
  hog.kind = "hog";
  hog.threads = 2;
  auto patched = patch_model(hog, j(R"({"threads":8})"));
  ASSERT_TRUE(patched.ok()) << patched.error().message;
  EXPECT_EQ(patched->record.threads, 8);
  auto kept = patch_model(hog, j(R"({"input_width":320})"));
  ASSERT_TRUE(kept.ok()) << kept.error().message;
  EXPECT_EQ(kept->record.threads, 2);
  auto reset = patch_model(hog, j(R"({"threads":null})"));
  ASSERT_TRUE(reset.ok()) << reset.error().message;
  EXPECT_EQ(reset->record.threads, 0);
}

// ADR 0092: a model's device, core/device.h's grammar, canonical in the record, defaulted by
// the kind, refused where the kind cannot run.
TEST(Models, DeviceDefaultsToTheKindsAndIsShownCanonical) {
  auto cpu = model_from_json(j(R"({"name":"y","kind":"yolox","path":"y.onnx"})"));
  ASSERT_TRUE(cpu.ok()) << cpu.error().message;
  EXPECT_EQ(cpu->device, "cpu");
  EXPECT_EQ(to_json(*cpu)["device"], "cpu");
  auto gpu = model_from_json(j(R"({"name":"t","kind":"torch_yolox","path":"y.pt"})"));
  ASSERT_TRUE(gpu.ok()) << gpu.error().message;
  EXPECT_EQ(gpu->device, "cuda:0");

  for (auto [given, stored] : {std::pair{"cuda:1", "cuda:1"}, std::pair{"cuda", "cuda:0"},
                               std::pair{"cuda:007", "cuda:7"}}) {
    auto r = model_from_json(
        json{{"name", "t"}, {"kind", "torch_yolov8"}, {"path", "v8.pt"}, {"device", given}});
    ASSERT_TRUE(r.ok()) << given << ": " << r.error().message;
    EXPECT_EQ(r->device, stored) << given;
    EXPECT_EQ(to_json(*r)["device"], stored) << given;
  }
  for (const char* kind : {"yolov8", "hog", "fake"}) {
    json body = {{"name", "c"}, {"kind", kind}, {"device", "cpu"}};
    if (std::string(kind) == "yolov8") body["path"] = "v8.onnx";
    auto r = model_from_json(body);
    ASSERT_TRUE(r.ok()) << kind << ": " << r.error().message;
    EXPECT_EQ(r->device, "cpu");
  }
}

TEST(Models, ABadDeviceIsRefusedNamingTheFieldAndTheValue) {
  for (const char* text : {"gpu0", "cuda:-1", "cuda:x", "CUDA:0", "cuda:10000", "cpu0"}) {
    auto r = model_from_json(
        json{{"name", "t"}, {"kind", "torch_yolox"}, {"path", "y.pt"}, {"device", text}});
    expect_refused(r, "api.invalid_field", "device", std::string("'") + text + "'");
    if (!r.ok()) {
      EXPECT_NE(r.error().message.find("'cuda:N'"), std::string::npos) << r.error().message;
    }
  }
  expect_refused(
      model_from_json(j(R"({"name":"t","kind":"torch_yolox","path":"y.pt","device":1})")),
      "api.wrong_type", "device", "string");
  expect_refused(
      model_from_json(j(R"({"name":"t","kind":"torch_yolox","path":"y.pt","device":null})")),
      "api.wrong_type", "device", "string");
  expect_refused(
      model_from_json(j(R"({"name":"t","kind":"torch_yolox","path":"y.pt","device":""})")),
      "api.invalid_field", "device", "empty");
}

TEST(Models, ADeviceTheKindCannotRunOnIsRefused) {
  // The OpenCV DNN kinds run with DNN_TARGET_CPU, HOG is CPU code: a CUDA device is refused.
  for (const char* kind : {"yolov8", "yolox", "hog", "fake"}) {
    json body = {{"name", "c"}, {"kind", kind}, {"device", "cuda:1"}};
    if (std::string(kind).starts_with("yolo")) body["path"] = "m.onnx";
    expect_refused(model_from_json(body), "api.invalid_field", "device", "CPU only");
    auto r = model_from_json(body);
    ASSERT_FALSE(r.ok());
    EXPECT_NE(r.error().message.find("'cuda:1'"), std::string::npos) << r.error().message;
    EXPECT_NE(r.error().message.find(std::string("'") + kind + "'"), std::string::npos)
        << r.error().message;
  }
  // The LibTorch kinds need CUDA.
  expect_refused(
      model_from_json(j(R"({"name":"t","kind":"torch_yolox","path":"y.pt","device":"cpu"})")),
      "api.invalid_field", "device", "CUDA device only");
}

TEST(Models, PatchKeepsTheDeviceAndNullResetsItToTheKindsDefault) {
  store::ModelRecord t;
  t.name = "t";
  t.kind = "torch_yolox";
  t.path = "/m/y.pt";
  t.device = "cuda:1";
  auto kept = patch_model(t, j(R"({"threads":2})"));
  ASSERT_TRUE(kept.ok()) << kept.error().message;
  EXPECT_EQ(kept->record.device, "cuda:1");
  auto moved = patch_model(t, j(R"({"device":"cuda:3"})"));
  ASSERT_TRUE(moved.ok()) << moved.error().message;
  EXPECT_EQ(moved->record.device, "cuda:3");
  auto reset = patch_model(t, j(R"({"device":null})"));
  ASSERT_TRUE(reset.ok()) << reset.error().message;
  EXPECT_EQ(reset->record.device, "cuda:0");
  expect_refused(patch_model(t, j(R"({"device":"gpu1"})")), "api.invalid_field", "device",
                 "'gpu1'");
  // To a CPU kind: the stored cuda:1 does not fit; the patch must say where it runs now.
  expect_refused(patch_model(t, j(R"({"kind":"yolox","path":"/m/y.onnx"})")), "api.invalid_field",
                 "device", "CPU only");
  auto to_cpu = patch_model(t, j(R"({"kind":"yolox","path":"/m/y.onnx","device":null})"));
  ASSERT_TRUE(to_cpu.ok()) << to_cpu.error().message;
  EXPECT_EQ(to_cpu->record.device, "cpu");
}

// ---- pipelines --------------------------------------------------------------------------------

TEST(Pipelines, FullRecordWithDefaultsAndNestedObjects) {
  auto r = pipeline_from_json(j(R"({"name":"p","stream":"cam","model":"y"})"));
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(r->sla, "best_effort");
  EXPECT_DOUBLE_EQ(r->min_score, 0.25);
  EXPECT_DOUBLE_EQ(r->iou, 0.45);
  EXPECT_TRUE(r->motion_gate_json.empty());
  EXPECT_TRUE(r->events.enabled);

  auto full = pipeline_from_json(j(R"({"name":"p","stream":"cam","model":"y","sla":"critical",
      "min_score":0.3,"iou":0.5,"classes":["person",2],"enabled":false,
      "motion_gate":{"min_motion":0.01,"max_skipped_in_row":100},
      "events":{"classes":["person"],"min_score":0.6,"min_interval_ms":500}})"));
  ASSERT_TRUE(full.ok()) << full.error().message;
  EXPECT_EQ(full->sla, "critical");
  EXPECT_EQ(full->classes, (std::vector<std::string>{"person", "2"}));
  const json gate = json::parse(full->motion_gate_json);
  EXPECT_EQ(gate["enabled"], true);
  EXPECT_DOUBLE_EQ(gate["min_motion"].get<double>(), 0.01);
  EXPECT_EQ(full->events.min_interval_ms, 500);
  EXPECT_DOUBLE_EQ(full->events.min_score, 0.6);

  auto gate_on =
      pipeline_from_json(j(R"({"name":"p","stream":"c","model":"m","motion_gate":true})"));
  ASSERT_TRUE(gate_on.ok());
  EXPECT_FALSE(gate_on->motion_gate_json.empty());
  auto dashed =
      pipeline_from_json(j(R"({"name":"p","stream":"c","model":"m","sla":"best-effort"})"));
  ASSERT_TRUE(dashed.ok());
  EXPECT_EQ(dashed->sla, "best_effort");
}

TEST(Pipelines, RangesTypesAndNestedFieldsNamed) {
  const char* base = R"({"name":"p","stream":"c","model":"m",)";
  auto with = [&](const char* rest) { return j((std::string(base) + rest + "}").c_str()); };
  expect_refused(pipeline_from_json(with(R"("min_score":1.5)")), "api.invalid_field", "min_score",
                 "[0, 1]");
  expect_refused(pipeline_from_json(with(R"("min_score":-0.1)")), "api.invalid_field", "min_score");
  expect_refused(pipeline_from_json(with(R"("iou":2)")), "api.invalid_field", "iou");
  expect_refused(pipeline_from_json(with(R"("min_score":"0.3")")), "api.wrong_type", "min_score");
  expect_refused(pipeline_from_json(with(R"("sla":"gold")")), "api.invalid_field", "sla",
                 "critical or best_effort");
  expect_refused(pipeline_from_json(with(R"("classes":[true])")), "api.wrong_type", "classes[0]");
  expect_refused(pipeline_from_json(with(R"("classes":[70000])")), "api.invalid_field",
                 "classes[0]");
  expect_refused(pipeline_from_json(with(R"("motion_gate":"on")")), "api.wrong_type",
                 "motion_gate");
  expect_refused(pipeline_from_json(with(R"("motion_gate":{"min_motion":3})")), "api.invalid_field",
                 "motion_gate.min_motion");
  expect_refused(pipeline_from_json(with(R"("motion_gate":{"history":0})")), "api.invalid_field",
                 "motion_gate.history");
  expect_refused(pipeline_from_json(with(R"("motion_gate":{"speed":1})")), "api.unknown_field",
                 "motion_gate.speed");
  expect_refused(pipeline_from_json(with(R"("events":{"min_score":7})")), "api.invalid_field",
                 "events.min_score");
  expect_refused(pipeline_from_json(with(R"("events":{"min_interval_ms":-1})")),
                 "api.invalid_field", "events.min_interval_ms");
  expect_refused(pipeline_from_json(with(R"("events":{"classes":[""]})")), "api.invalid_field",
                 "events.classes[0]");
  expect_refused(pipeline_from_json(with(R"("events":{"every":1})")), "api.unknown_field",
                 "events.every");
  expect_refused(pipeline_from_json(with(R"("events":[])")), "api.wrong_type", "events");
  expect_refused(pipeline_from_json(with(R"("stream":"../x")")), "api.invalid_field", "stream");
  expect_refused(pipeline_from_json(j(R"({"name":"p","stream":"c"})")), "api.missing_field",
                 "model");
}

TEST(Pipelines, WorkerCommandOnlyFromTheConfigFile) {
  const json body =
      j(R"({"name":"p","stream":"c","model":"m","worker_command":["/bin/sh","-c","x"]})");
  expect_refused(pipeline_from_json(body), "api.forbidden_field", "worker_command", "config file");
  Source config{.label = "orion.yaml", .prefix = "pipelines[0]", .allow_worker_command = true};
  auto r = pipeline_from_json(body, config);
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(r->worker_command.size(), 3u);
  expect_refused(
      pipeline_from_json(j(R"({"name":"p","stream":"c","model":"m","worker_command":[]})"), config),
      "api.invalid_field", "pipelines[0].worker_command");
}

TEST(Sources, AYamlImportGetsTheSameChecksWithItsOwnLabelAndFieldPath) {
  Source yaml{.label = "orion.yaml", .prefix = "streams[2]", .allow_worker_command = false};
  auto r = stream_from_json(j(R"({"name":"a","url":"a.mp4","loop":"yes"})"), yaml);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().field, "streams[2].loop");
  EXPECT_EQ(r.error().message.rfind("orion.yaml: streams[2].loop: ", 0), 0u) << r.error().message;
  Source yaml_p{.label = "orion.yaml", .prefix = "pipelines[1]", .allow_worker_command = false};
  auto p = pipeline_from_json(
      j(R"({"name":"p","stream":"c","model":"m","events":{"min_score":2}})"), yaml_p);
  ASSERT_FALSE(p.ok());
  EXPECT_EQ(p.error().field, "pipelines[1].events.min_score");
}

TEST(Sources, AWholeConfigDocumentIsCheckedEntryByEntry) {
  Source yaml{.label = "orion.yaml", .prefix = "", .allow_worker_command = true};
  auto ok = desired_state_from_json(j(R"({
      "streams": [{"name": "cam1", "url": "rtsp://127.0.0.1:8555/cam1"},
                  {"name": "lobby", "url": "clips/v.mp4", "loop": true}],
      "models": [{"name": "yolox", "kind": "yolox", "path": "m.onnx"}],
      "pipelines": [{"name": "people", "stream": "lobby", "model": "yolox", "sla": "critical"}]})"),
                                    yaml);
  ASSERT_TRUE(ok.ok()) << ok.error().message;
  EXPECT_EQ(ok->streams.size(), 2u);
  EXPECT_EQ(ok->pipelines[0].sla, "critical");
  EXPECT_TRUE(desired_state_from_json(json(nullptr), yaml).ok());
  EXPECT_TRUE(desired_state_from_json(j(R"({"streams": null, "models": []})"), yaml).ok());

  auto bad_entry = desired_state_from_json(
      j(R"({"streams": [{"name": "a", "url": "a.mp4"}, {"name": "b", "url": "ftp://x"}]})"), yaml);
  ASSERT_FALSE(bad_entry.ok());
  EXPECT_EQ(bad_entry.error().field, "streams[1].url");
  EXPECT_EQ(bad_entry.error().message.rfind("orion.yaml: streams[1].url: ", 0), 0u)
      << bad_entry.error().message;
  auto dup = desired_state_from_json(
      j(R"({"models": [{"name": "h", "kind": "hog"}, {"name": "h", "kind": "fake"}]})"), yaml);
  ASSERT_FALSE(dup.ok());
  EXPECT_EQ(dup.error().field, "models[1].name");
  auto ref = desired_state_from_json(
      j(R"({"streams": [{"name": "a", "url": "a.mp4"}], "models": [{"name": "h", "kind": "hog"}],
            "pipelines": [{"name": "p", "stream": "b", "model": "h"}]})"),
      yaml);
  ASSERT_FALSE(ref.ok());
  EXPECT_EQ(ref.error().field, "pipelines[0].stream");
  auto top = desired_state_from_json(j(R"({"stream": []})"), yaml);
  ASSERT_FALSE(top.ok());
  EXPECT_EQ(top.error().code, "api.unknown_field");
  EXPECT_EQ(top.error().field, "stream");
  auto notlist = desired_state_from_json(j(R"({"streams": {"name": "a"}})"), yaml);
  ASSERT_FALSE(notlist.ok());
  EXPECT_EQ(notlist.error().field, "streams");
}

// ---- PATCH ------------------------------------------------------------------------------------

store::StreamRecord stored_stream() {
  store::StreamRecord s;
  s.name = "cam";
  s.url = "rtsp://admin:hunter2@h/s";
  s.version = 3;
  return s;
}

TEST(Patch, MergesGivenFieldsAndTakesTheVersion) {
  auto r = patch_stream(stored_stream(), j(R"({"enabled":false,"version":3})"));
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_FALSE(r->record.enabled);
  EXPECT_EQ(r->record.url, "rtsp://admin:hunter2@h/s");  // untouched, password kept
  ASSERT_TRUE(r->version.has_value());
  EXPECT_EQ(*r->version, 3);
  auto nov = patch_stream(stored_stream(), j(R"({"loop":true})"));
  ASSERT_TRUE(nov.ok());
  EXPECT_FALSE(nov->version.has_value());
}

TEST(Patch, TheRedactedUrlSentBackKeepsThePassword) {
  auto r = patch_stream(stored_stream(), j(R"({"url":"rtsp://admin:***@h/s","version":3})"));
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(r->record.url, "rtsp://admin:hunter2@h/s");
  auto changed = patch_stream(stored_stream(), j(R"({"url":"rtsp://admin:new@h/s"})"));
  ASSERT_TRUE(changed.ok());
  EXPECT_EQ(changed->record.url, "rtsp://admin:new@h/s");
}

TEST(Patch, NullResetsToTheDefaultAndNestedObjectsMerge) {
  store::PipelineRecord p;
  p.name = "p";
  p.stream = "c";
  p.model = "m";
  p.min_score = 0.7;
  p.events.min_score = 0.9;
  p.events.min_interval_ms = 200;
  p.worker_command = {"/opt/worker"};
  auto r = patch_pipeline(p, j(R"({"min_score":null,"events":{"min_interval_ms":5000}})"));
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_DOUBLE_EQ(r->record.min_score, 0.25);
  EXPECT_EQ(r->record.events.min_interval_ms, 5000);
  EXPECT_DOUBLE_EQ(r->record.events.min_score, 0.9);  // merged, not replaced
  EXPECT_EQ(r->record.worker_command, std::vector<std::string>{"/opt/worker"});  // kept
  expect_refused(patch_pipeline(p, j(R"({"worker_command":["/bin/sh"]})")), "api.forbidden_field",
                 "worker_command");
}

TEST(Patch, RefusesRenamesBadVersionsAndWhatCreateRefuses) {
  EXPECT_TRUE(patch_stream(stored_stream(), j(R"({"name":"cam"})")).ok());
  expect_refused(patch_stream(stored_stream(), j(R"({"name":"other"})")), "api.invalid_field",
                 "name", "cannot be changed");
  expect_refused(patch_stream(stored_stream(), j(R"({"version":"3"})")), "api.wrong_type",
                 "version");
  expect_refused(patch_stream(stored_stream(), j(R"({"version":0})")), "api.invalid_field",
                 "version");
  expect_refused(patch_stream(stored_stream(), j(R"({"url":"http://x/y"})")), "api.invalid_field",
                 "url");
  expect_refused(patch_stream(stored_stream(), j(R"({"colour":"red"})")), "api.unknown_field",
                 "colour");
  expect_refused(patch_stream(stored_stream(), j(R"({"updated_at":"now"})")), "api.read_only_field",
                 "updated_at");
  expect_refused(patch_stream(stored_stream(), j(R"([1])")), "api.wrong_type", "");
  store::ModelRecord hog;
  hog.name = "h";
  hog.kind = "hog";
  expect_refused(patch_model(hog, j(R"({"kind":"yolox"})")), "api.missing_field", "path");
  EXPECT_TRUE(patch_model(hog, j(R"({"kind":"yolox","path":"m.onnx"})")).ok());
}

// ---- queries, versions, times -----------------------------------------------------------------

TEST(EventQuery, ParsesFiltersCursorAndLimit) {
  auto q = event_query_from_params({{"stream", "cam"},
                                    {"pipeline", "p"},
                                    {"since", "1700000000000"},
                                    {"after", "42"},
                                    {"limit", "7"}});
  ASSERT_TRUE(q.ok()) << q.error().message;
  EXPECT_EQ(q->stream, "cam");
  EXPECT_EQ(q->pipeline, "p");
  EXPECT_EQ(q->since_ms, 1700000000000);
  EXPECT_EQ(q->after_id, 42);
  EXPECT_EQ(q->limit, 7);
  auto iso = event_query_from_params({{"since", "2023-11-14T22:13:20Z"}});
  ASSERT_TRUE(iso.ok());
  EXPECT_EQ(iso->since_ms, 1700000000000);
  auto none = event_query_from_params({});
  ASSERT_TRUE(none.ok());
  EXPECT_EQ(none->limit, kDefaultEventLimit);
}

TEST(EventQuery, RefusesUnknownRepeatedAndOutOfRangeParameters) {
  for (const auto& [k, v] : std::vector<std::pair<std::string, std::string>>{{"limit", "0"},
                                                                             {"limit", "1001"},
                                                                             {"limit", "ten"},
                                                                             {"after", "-1"},
                                                                             {"after", "1x"},
                                                                             {"since", "yesterday"},
                                                                             {"stream", "../x"},
                                                                             {"stram", "cam"}}) {
    auto q = event_query_from_params({{k, v}});
    ASSERT_FALSE(q.ok()) << k << "=" << v;
    EXPECT_EQ(q.error().code, "api.invalid_query");
    EXPECT_EQ(q.error().field, k);
  }
  EXPECT_FALSE(event_query_from_params({{"limit", "1"}, {"limit", "2"}}).ok());
}

TEST(Versions, FromBodiesQueriesAndIfMatch) {
  EXPECT_EQ(*parse_version_text("3", "version"), 3);
  EXPECT_EQ(*parse_version_text("\"12\"", "If-Match"), 12);
  EXPECT_EQ(*parse_version_text("W/\"5\"", "If-Match"), 5);
  for (const char* bad : {"", "0", "-2", "x", "\"\"", "3.0", "*"}) {
    auto v = parse_version_text(bad, "If-Match");
    ASSERT_FALSE(v.ok()) << bad;
    EXPECT_EQ(v.error().field, "If-Match");
  }
}

TEST(Times, Iso8601RoundTrip) {
  EXPECT_EQ(parse_iso8601_ms("1970-01-01T00:00:00Z"), 0);
  EXPECT_EQ(parse_iso8601_ms("2023-11-14T22:13:20.5Z"), 1700000000500);
  EXPECT_EQ(parse_iso8601_ms("2023-11-14 22:13:20"), 1700000000000);
  EXPECT_EQ(parse_iso8601_ms("2023-11-14T22:13:20+00:00"), 1700000000000);
  EXPECT_FALSE(parse_iso8601_ms("2023-11-14T22:13:20+02:00").has_value());
  EXPECT_FALSE(parse_iso8601_ms("2023-13-14T22:13:20Z").has_value());
  EXPECT_EQ(format_iso8601_ms(1700000000500), "2023-11-14T22:13:20.500Z");
  EXPECT_EQ(parse_iso8601_ms(format_iso8601_ms(1234567890123)), 1234567890123);
}

TEST(RedactJson, EveryStringValueAnywhere) {
  json a = {
      {"streams", {{{"url", "rtsp://u:p1@h/s"}, {"last_error", "open rtsp://u:p2@h/s failed"}}}},
      {"n", 3}};
  redact_json(a);
  const std::string text = a.dump();
  EXPECT_EQ(text.find("p1@"), std::string::npos) << text;
  EXPECT_EQ(text.find("p2@"), std::string::npos) << text;
  EXPECT_EQ(a["n"], 3);
}

}  // namespace
}  // namespace orion::api
