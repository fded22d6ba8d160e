#include "engine/config.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

namespace orion::engine {
namespace {

TEST(Config, ParsesTheDesignExampleAndResolvesRelativePaths) {
  const char* text = R"(
streams:
  - {name: cam1, url: "rtsp://127.0.0.1:8555/cam1"}
  - {name: lobby, url: "../shared/assets/vtest_480x360.mp4", loop: true}
  - {name: abs, url: "/data/clip.mp4", enabled: false}
models:
  - {name: yolox, kind: yolox, path: "../shared/assets/yolox_nano.onnx"}
pipelines:
  - {name: people, stream: cam1, model: yolox, sla: critical, min_score: 0.3}
)";
  auto c = parse_config(text, "/etc/orion", "orion.yaml");
  ASSERT_TRUE(c.ok()) << c.error().to_string();
  ASSERT_EQ(c->streams.size(), 3u);
  EXPECT_EQ(c->streams[0].url, "rtsp://127.0.0.1:8555/cam1");
  EXPECT_FALSE(c->streams[0].loop);
  EXPECT_EQ(c->streams[1].url, "/etc/shared/assets/vtest_480x360.mp4");
  EXPECT_TRUE(c->streams[1].loop);
  EXPECT_EQ(c->streams[2].url, "/data/clip.mp4");
  EXPECT_FALSE(c->streams[2].enabled);
}

TEST(Config, LoadResolvesAgainstTheFilesFolder) {
  const auto dir = std::filesystem::temp_directory_path() / ("orion_config_test_" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  const auto file = dir / "orion.yaml";
  std::ofstream(file) << "streams:\n  - name: a\n    url: clips/a.mp4\n";
  auto c = load_config(file.string());
  ASSERT_TRUE(c.ok()) << c.error().to_string();
  EXPECT_EQ(c->streams[0].url, (dir / "clips/a.mp4").string());
  std::filesystem::remove_all(dir);
  EXPECT_EQ(load_config((dir / "missing.yaml").string()).error().code, "config.io");
}

void expect_error(const std::string& text, const std::string& needle) {
  auto c = parse_config(text, "/x", "orion.yaml");
  ASSERT_FALSE(c.ok()) << text;
  EXPECT_NE(c.error().message.find(needle), std::string::npos) << c.error().message;
  EXPECT_EQ(c.error().message.rfind("orion.yaml", 0), 0u) << c.error().message;
}

TEST(Config, ErrorsNameTheFileAndTheField) {
  expect_error("streams:\n  - {url: test://}\n", "streams[0].name: missing");
  expect_error("streams:\n  - {name: a}\n", "streams[0].url: missing");
  expect_error("streams:\n  - {name: a, url: x}\n  - {name: a, url: y}\n", "streams[1].name: duplicate");
  expect_error("streams:\n  - {name: a, url: x, loop: sometimes}\n", "streams[0].loop: must be true or false");
  expect_error("streams:\n  - {name: a, url: x, lop: true}\n", "streams[0].lop: unknown field");
  expect_error("streams:\n  - {name: 'a b', url: x}\n", "streams[0].name");
  expect_error("stream:\n  - {name: a, url: x}\n", "stream: unknown top-level key");
  expect_error("streams: {name: a}\n", "streams: must be a list");
  expect_error("models: 3\n", "models: must be a list");
  auto syntax = parse_config("streams: [ {name: a\n", "/x", "orion.yaml");
  ASSERT_FALSE(syntax.ok());
  EXPECT_EQ(syntax.error().code, "config.parse");
  EXPECT_NE(syntax.error().message.find("line"), std::string::npos);
}

TEST(Config, TlsVerifyDefaultsToTrueAndCanBeTurnedOff) {
  auto c = parse_config("streams:\n  - {name: a, url: \"rtsps://cam/a\", tls_verify: false}\n"
                        "  - {name: b, url: \"rtsps://cam/b\"}\n",
                        "/x", "orion.yaml");
  ASSERT_TRUE(c.ok()) << c.error().to_string();
  EXPECT_EQ(c->streams[0].url, "rtsps://cam/a");
  EXPECT_FALSE(c->streams[0].tls_verify);
  EXPECT_TRUE(c->streams[1].tls_verify);
  expect_error("streams:\n  - {name: a, url: x, tls_verify: maybe}\n", "streams[0].tls_verify: must be true or false");
}

TEST(Config, StallTimeoutIsPerStreamInSecondsZeroMeaningTheEngineDefault) {
  auto c = parse_config(
      "streams:\n  - {name: a, url: \"rtsp://cam/a\", stall_timeout_s: 2.5}\n"
      "  - {name: b, url: \"rtsp://cam/b\"}\n",
      "/x", "orion.yaml");
  ASSERT_TRUE(c.ok()) << c.error().to_string();
  EXPECT_EQ(c->streams[0].stall_timeout, Duration::millis(2500));
  EXPECT_EQ(c->streams[1].stall_timeout, Duration::zero());
  expect_error("streams:\n  - {name: a, url: x, stall_timeout_s: soon}\n",
               "streams[0].stall_timeout_s: must be a number of seconds");
  expect_error("streams:\n  - {name: a, url: x, stall_timeout_s: 0.1}\n",
               "streams[0].stall_timeout_s: must be 0 (the engine's default) or 0.5..3600");
}

TEST(Config, ModelsAndPipelinesParseWithResolvedPaths) {
  auto c = parse_config(
      "streams:\n  - {name: lobby, url: v.mp4}\n"
      "models:\n  - {name: yolox, kind: yolox, path: m/yolox_nano.onnx}\n  - {name: hog, kind: hog}\n"
      "pipelines:\n  - {name: people, stream: lobby, model: yolox, sla: critical, min_score: 0.3, classes: [person]}\n"
      "  - {name: walkers, stream: lobby, model: hog}\n",
      "/x", "orion.yaml");
  ASSERT_TRUE(c.ok()) << c.error().to_string();
  ASSERT_EQ(c->models.size(), 2u);
  EXPECT_EQ(c->models[0].path, "/x/m/yolox_nano.onnx");
  EXPECT_EQ(c->models[1].path, "");
  ASSERT_EQ(c->pipelines.size(), 2u);
  EXPECT_EQ(c->pipelines[0].sla, SlaClass::kCritical);
  EXPECT_FLOAT_EQ(c->pipelines[0].min_score, 0.3f);
  EXPECT_EQ(c->pipelines[0].classes, std::vector<std::string>{"person"});
  EXPECT_EQ(c->pipelines[1].sla, SlaClass::kBestEffort);
}

TEST(Config, AModelsDeviceIsReadInCanonicalFormAndBadOnesNameTheField) {
  auto c = parse_config(
      "models:\n  - {name: g, kind: torch_yolox, path: y.pt, device: cuda}\n"
      "  - {name: g1, kind: torch_yolov8, path: v8.pt, device: \"cuda:01\"}\n"
      "  - {name: h, kind: hog, device: cpu}\n  - {name: d, kind: hog}\n",
      "/x", "orion.yaml");
  ASSERT_TRUE(c.ok()) << c.error().to_string();
  ASSERT_EQ(c->models.size(), 4u);
  EXPECT_EQ(c->models[0].device, "cuda:0");
  EXPECT_EQ(c->models[1].device, "cuda:1");
  EXPECT_EQ(c->models[2].device, "cpu");
  EXPECT_EQ(c->models[3].device, "");  // the kind's default
  expect_error("models:\n  - {name: m, kind: hog, device: gpu0}\n",
               "models[0].device: 'gpu0' is not a device");
  expect_error("models:\n  - {name: m, kind: hog, device: \"cuda:-1\"}\n",
               "models[0].device: 'cuda:-1' is not a device");
}

TEST(Config, PipelineErrorsNameTheField) {
  const std::string base = "streams:\n  - {name: a, url: x}\nmodels:\n  - {name: m, kind: hog}\n";
  expect_error(base + "pipelines:\n  - {name: p, stream: b, model: m}\n", "pipelines[0].stream: no stream named 'b'");
  expect_error(base + "pipelines:\n  - {name: p, stream: a, model: x}\n", "pipelines[0].model: no model named 'x'");
  expect_error(base + "pipelines:\n  - {name: p, stream: a, model: m, sla: urgent}\n",
               "pipelines[0].sla: 'urgent' is not an sla class (expected critical or best_effort)");
  expect_error(base + "pipelines:\n  - {name: p, stream: a, model: m, min_score: 2}\n", "pipelines[0].min_score");
  expect_error(base + "pipelines:\n  - {name: p, stream: a, model: m}\n  - {name: p, stream: a, model: m}\n",
               "pipelines[1].name: duplicate");
  expect_error(base + "pipelines:\n  - {name: p, stream: a, model: m, modle: x}\n", "pipelines[0].modle: unknown field");
  expect_error("models:\n  - {name: m}\n", "models[0].kind: missing");
  expect_error("models:\n  - {name: m, kind: hog, input_width: -3}\n", "models[0].input_width");
}

TEST(Config, SlaAcceptsTheSpellingsOfParseSla) {
  const std::string base = "streams:\n  - {name: a, url: x}\nmodels:\n  - {name: m, kind: hog}\n";
  auto c = parse_config(base +
                            "pipelines:\n  - {name: p, stream: a, model: m, sla: best-effort}\n"
                            "  - {name: q, stream: a, model: m, sla: critical}\n",
                        "/x");
  ASSERT_TRUE(c.ok()) << c.error().to_string();
  EXPECT_EQ(c->pipelines[0].sla, SlaClass::kBestEffort);
  EXPECT_EQ(c->pipelines[1].sla, SlaClass::kCritical);
}

TEST(Config, MotionGateIsOffByDefaultAndTurnedOnByABoolOrAMap) {
  const std::string base = "streams:\n  - {name: a, url: x}\nmodels:\n  - {name: m, kind: hog}\npipelines:\n";
  auto c = parse_config(base +
                            "  - {name: plain, stream: a, model: m}\n"
                            "  - {name: on, stream: a, model: m, motion_gate: true}\n"
                            "  - {name: off, stream: a, model: m, motion_gate: false}\n"
                            "  - name: tuned\n    stream: a\n    model: m\n"
                            "    motion_gate: {min_motion: 0.01, analysis_width: 160, history: 50, max_skipped_in_row: 0}\n"
                            "  - {name: mapped-off, stream: a, model: m, motion_gate: {enabled: false, min_motion: 0.5}}\n"
                            "  - {name: empty-map, stream: a, model: m, motion_gate: {}}\n",
                        "/x", "orion.yaml");
  ASSERT_TRUE(c.ok()) << c.error().to_string();
  ASSERT_EQ(c->pipelines.size(), 6u);
  const infer::MotionGateConfig defaults;
  EXPECT_FALSE(c->pipelines[0].motion_gate.enabled);
  EXPECT_TRUE(c->pipelines[1].motion_gate.enabled);
  EXPECT_DOUBLE_EQ(c->pipelines[1].motion_gate.min_motion_fraction, defaults.min_motion_fraction);
  EXPECT_EQ(c->pipelines[1].motion_gate.analysis_width, defaults.analysis_width);
  EXPECT_EQ(c->pipelines[1].motion_gate.max_skipped_in_row, defaults.max_skipped_in_row);
  EXPECT_FALSE(c->pipelines[2].motion_gate.enabled);
  const infer::MotionGateConfig& t = c->pipelines[3].motion_gate;
  EXPECT_TRUE(t.enabled);  // a map turns the gate on
  EXPECT_DOUBLE_EQ(t.min_motion_fraction, 0.01);
  EXPECT_EQ(t.analysis_width, 160);
  EXPECT_EQ(t.history, 50);
  EXPECT_EQ(t.max_skipped_in_row, 0);
  EXPECT_DOUBLE_EQ(t.var_threshold, defaults.var_threshold);  // not settable from YAML
  EXPECT_FALSE(c->pipelines[4].motion_gate.enabled);
  EXPECT_DOUBLE_EQ(c->pipelines[4].motion_gate.min_motion_fraction, 0.5);
  EXPECT_TRUE(c->pipelines[5].motion_gate.enabled);
  EXPECT_EQ(c->pipelines[5].motion_gate.history, defaults.history);
}

TEST(Config, MotionGateErrorsNameTheField) {
  const std::string base =
      "streams:\n  - {name: a, url: x}\nmodels:\n  - {name: m, kind: hog}\npipelines:\n  - {name: p, stream: a, "
      "model: m, motion_gate: ";
  expect_error(base + "sometimes}\n", "pipelines[0].motion_gate: must be true or false");
  expect_error(base + "[1, 2]}\n", "pipelines[0].motion_gate: must be true, false or a map");
  expect_error(base + "{enabled: perhaps}}\n", "pipelines[0].motion_gate.enabled: must be true or false");
  expect_error(base + "{min_motion: 1.5}}\n", "pipelines[0].motion_gate.min_motion: must be in [0, 1]");
  expect_error(base + "{min_motion: -0.1}}\n", "pipelines[0].motion_gate.min_motion: must be in [0, 1]");
  expect_error(base + "{min_motion: lots}}\n", "pipelines[0].motion_gate.min_motion: must be a number");
  expect_error(base + "{analysis_width: 0}}\n", "pipelines[0].motion_gate.analysis_width: must be in 1..");
  expect_error(base + "{analysis_width: wide}}\n", "pipelines[0].motion_gate.analysis_width: must be an integer");
  expect_error(base + "{history: -5}}\n", "pipelines[0].motion_gate.history: must be in 1..");
  expect_error(base + "{history: 2.5}}\n", "pipelines[0].motion_gate.history: must be an integer");
  expect_error(base + "{max_skipped_in_row: -1}}\n", "pipelines[0].motion_gate.max_skipped_in_row: must be in 0..");
  expect_error(base + "{min_moton: 0.1}}\n", "pipelines[0].motion_gate.min_moton: unknown field (expected enabled, min_motion");
}

TEST(Config, APipelineWorkerIsAListOrAStringWithItsExecutableResolved) {
  const char* text = R"(
streams: [{name: a, url: x}]
models: [{name: m, kind: python}]
pipelines:
  - {name: default, stream: a, model: m}
  - {name: list, stream: a, model: m, worker: [python3, worker.py, --verbose, '']}
  - {name: relative, stream: a, model: m, worker: [./bin/w, --mode, fast]}
  - {name: string, stream: a, model: m, worker: /opt/w/run}
)";
  auto c = parse_config(text, "/etc/orion", "orion.yaml");
  ASSERT_TRUE(c.ok()) << c.error().to_string();
  ASSERT_EQ(c->pipelines.size(), 4u);
  EXPECT_TRUE(c->pipelines[0].worker.empty());
  EXPECT_EQ(c->pipelines[1].worker,
            (std::vector<std::string>{"python3", "worker.py", "--verbose", ""}));
  EXPECT_EQ(c->pipelines[2].worker,
            (std::vector<std::string>{"/etc/orion/bin/w", "--mode", "fast"}));
  EXPECT_EQ(c->pipelines[3].worker, (std::vector<std::string>{"/opt/w/run"}));
}

TEST(Config, PipelineWorkerErrorsNameTheField) {
  const std::string base =
      "streams: [{name: a, url: x}]\nmodels: [{name: m, kind: hog}]\npipelines:\n  - {name: p, "
      "stream: a, model: m, worker: ";
  expect_error(base + "[]}\n", "pipelines[0].worker: must not be empty");
  expect_error(base + "''}\n", "pipelines[0].worker: must not be empty");
  expect_error(base + "{exe: x}}\n", "pipelines[0].worker: must be a list [executable, arg, ...]");
  expect_error(base + "['', --x]}\n", "pipelines[0].worker[0]: must not be empty");
  expect_error(base + "[w, [1, 2]]}\n", "pipelines[0].worker[1]: must be a string");
  expect_error(base + "[w, ~]}\n", "pipelines[0].worker[1]: must be a string");
}

TEST(Config, EmptyFileHasNoStreams) {
  auto c = parse_config("", "/x");
  ASSERT_TRUE(c.ok());
  EXPECT_TRUE(c->streams.empty());
}

}  // namespace
}  // namespace orion::engine
