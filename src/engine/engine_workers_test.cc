// The engine with worker pipelines (issue 6), end to end in one process tree: test-pattern and
// file streams → shared-memory pools → `orion worker` processes → ResultStore → compositor.
// One engine, many workers: several pipelines on one stream and pipelines on several streams,
// each with its own statistics; a worker killed with SIGKILL never stops the output.
#include <gtest/gtest.h>
#include <signal.h>
#include <unistd.h>

#include <chrono>
#include <functional>
#include <set>

#include "engine/engine.h"
#include "engine/worker_test_support.h"
#include "testing/assets.h"
#include "testing/watchdog.h"

#ifndef ORION_BINARY
#error "ORION_BINARY must be defined by CMake"
#endif

namespace orion::engine {
namespace {

using namespace std::chrono_literals;

using testing::eventually;

EngineOptions options() { return testing::worker_engine_options(ORION_BINARY, size_t{640} * 480 * 3); }

std::optional<PipelineStats> pipeline(const Engine& e, const std::string& name) {
  return testing::find_pipeline(e, name);
}

TEST(EngineWorkers, SeveralPipelinesOnSeveralStreamsEachWithItsOwnStatistics) {
  orion::testing::Watchdog dog(Duration::seconds(120), "engine with workers");
  auto cfg = parse_config(
      "streams:\n"
      "  - {name: a, url: 'test://ball?width=320&height=240&fps=25'}\n"
      "  - {name: b, url: 'test://ball?width=320&height=240&fps=25'}\n"
      "models:\n"
      "  - {name: quick, kind: fake}\n"
      "  - {name: people, kind: hog}\n"
      "pipelines:\n"
      "  - {name: a-critical, stream: a, model: quick, sla: critical}\n"
      "  - {name: a-best, stream: a, model: people, sla: best_effort}\n"
      "  - {name: b-only, stream: b, model: quick}\n",
      "", "test.yaml");
  ASSERT_TRUE(cfg.ok()) << cfg.error().to_string();
  auto engine = Engine::create(*cfg, options());
  ASSERT_TRUE(engine.ok()) << engine.error().to_string();
  Engine& e = **engine;
  ASSERT_TRUE(e.start().ok());
  ASSERT_TRUE(eventually(
      [&] {
        for (const char* n : {"a-critical", "a-best", "b-only"}) {
          auto p = pipeline(e, n);
          if (!p || p->state != PipelineState::kRunning || p->results == 0) return false;
        }
        return true;
      },
      30s))
      << "pipelines did not all produce results";
  // Each stream's results, from each of its pipelines, carry that stream's identity.
  std::set<std::string> on_a;
  for (const auto& r : e.results().latest(1)) on_a.insert(r.pipeline);
  EXPECT_EQ(on_a, (std::set<std::string>{"a-best", "a-critical"}));
  ASSERT_EQ(e.results().latest(2).size(), 1u);
  EXPECT_EQ(e.results().latest(2)[0].pipeline, "b-only");
  EXPECT_EQ(pipeline(e, "a-critical")->sla, SlaClass::kCritical);

  // SIGKILL the critical worker of stream a: its output keeps its rate, b and a-best carry on.
  const PipelineStats victim = *pipeline(e, "a-critical");
  const PipelineStats best = *pipeline(e, "a-best"), b = *pipeline(e, "b-only");
  const uint64_t frames_a = e.report("a")->compositor.frames;
  const auto t0 = std::chrono::steady_clock::now();
  ASSERT_EQ(::kill(victim.pid, SIGKILL), 0);
  ASSERT_TRUE(eventually(
      [&] {
        auto p = pipeline(e, "a-critical");
        return p->pid != victim.pid && p->state == PipelineState::kRunning &&
               p->results > victim.results;
      },
      5s));
  // Half a second more of output (12 frames at 25 fps) after the replacement is running.
  const uint64_t frames_replaced = e.report("a")->compositor.frames;
  ASSERT_TRUE(
      eventually([&] { return e.report("a")->compositor.frames >= frames_replaced + 12; }, 5s));
  const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  const double fps_a = static_cast<double>(e.report("a")->compositor.frames - frames_a) / secs;
  EXPECT_GT(fps_a, 0.8 * 25) << "output of stream a slowed down while its worker was replaced";
  const PipelineStats v2 = *pipeline(e, "a-critical");
  EXPECT_EQ(v2.restarts, 1u);
  EXPECT_EQ(v2.restart_reasons.at("crashed"), 1u);
  EXPECT_EQ(v2.offered, v2.taken + v2.dropped + v2.pending);
  EXPECT_GT(pipeline(e, "a-best")->taken, best.taken);
  EXPECT_GT(pipeline(e, "b-only")->results, b.results);
  EXPECT_EQ(pipeline(e, "a-best")->restarts + pipeline(e, "b-only")->restarts, 0u);
  EXPECT_LT(pipeline(e, "b-only")->last_result_age, Duration::seconds(1));
  EXPECT_GT(pipeline(e, "b-only")->last_result_latency, Duration::zero());
  EXPECT_LT(pipeline(e, "b-only")->last_result_latency, Duration::seconds(1));
  // The in-engine "ipc" subscriber carries every frame to the workers' mailboxes.
  bool has_ipc = false;
  for (const auto& s : e.supplier("a")->stats().subscribers) has_ipc = has_ipc || s.name == "ipc";
  EXPECT_TRUE(has_ipc);

  std::vector<pid_t> pids;
  for (const auto& p : e.pipelines()) pids.push_back(p.pid);
  e.stop();
  for (const auto& p : e.pipelines()) EXPECT_EQ(p.state, PipelineState::kStopped);
  for (pid_t pid : pids)
    EXPECT_NE(::kill(pid, 0), 0) << "worker " << pid << " survived engine stop";
}

TEST(EngineWorkers, AYoloxWorkerFindsPeopleInTheDemoVideo) {
  ORION_REQUIRE_ASSET(video, "vtest_480x360.mp4");
  ORION_REQUIRE_ASSET(model, "yolox_nano.onnx");
  orion::testing::Watchdog dog(Duration::seconds(120), "yolox worker");
  Config cfg;
  cfg.streams.push_back({"lobby", video, true, true});
  cfg.models.push_back({"yolox", "yolox", model, 0, 0, "", {}, 0});
  PipelineConfig pc;
  pc.name = "people";
  pc.stream = "lobby";
  pc.model = "yolox";
  pc.sla = SlaClass::kCritical;
  pc.min_score = 0.3f;
  cfg.pipelines.push_back(pc);
  auto engine = Engine::create(cfg, options());
  ASSERT_TRUE(engine.ok()) << engine.error().to_string();
  ASSERT_TRUE((*engine)->start().ok());
  bool person = false;
  ASSERT_TRUE(eventually(
      [&] {
        for (const auto& r : (*engine)->results().latest(1))
          for (const auto& d : r.detections) person = person || d.class_name == "person";
        return person;
      },
      60s))
      << pipeline(**engine, "people")->last_error;
  const PipelineStats p = *pipeline(**engine, "people");
  EXPECT_EQ(p.restarts, 0u);
  EXPECT_EQ(p.bad_results, 0u);
  (*engine)->stop();
}

TEST(EngineWorkers, APipelineOnARefusedStreamIsReportedFailedWithTheReason) {
  auto cfg = parse_config(
      "streams: [{name: ok, url: 'test://ball?width=160&height=120&fps=10'}, {name: bad, url: "
      "'ftp://x/y'}]\n"
      "models: [{name: m, kind: fake}]\n"
      "pipelines: [{name: on-ok, stream: ok, model: m}, {name: on-bad, stream: bad, model: m}]\n",
      "", "t.yaml");
  ASSERT_TRUE(cfg.ok()) << cfg.error().to_string();
  auto engine = Engine::create(*cfg, options());
  ASSERT_TRUE(engine.ok()) << engine.error().to_string();
  ASSERT_TRUE((*engine)->start().ok());
  ASSERT_TRUE(eventually([&] { return pipeline(**engine, "on-ok")->results > 0; }, 20s));
  const PipelineStats bad = *pipeline(**engine, "on-bad");
  EXPECT_EQ(bad.state, PipelineState::kFailed);
  EXPECT_NE(bad.last_error.find("stream 'bad' is not running"), std::string::npos)
      << bad.last_error;
  (*engine)->stop();
}

TEST(EngineWorkers, AnUnknownModelKindIsRefusedAtCreate) {
  auto cfg = parse_config(
      "streams: [{name: a, url: 'test://ball'}]\nmodels: [{name: m, kind: yolo9000, path: "
      "x.onnx}]\n"
      "pipelines: [{name: p, stream: a, model: m}]\n",
      "", "t.yaml");
  ASSERT_TRUE(cfg.ok());
  auto engine = Engine::create(*cfg, options());
  ASSERT_FALSE(engine.ok());
  EXPECT_EQ(engine.error().code, "engine.bad_pipeline");
  EXPECT_NE(engine.error().message.find("yolo9000"), std::string::npos);
  EXPECT_NE(engine.error().message.find("yolox"), std::string::npos);  // lists the known kinds
}

// ADR 0092: Orion's worker runs the OpenCV DNN and HOG kinds on the CPU only, so a CUDA device
// on one of their models is refused when the engine is created, naming the model and the device.
TEST(EngineWorkers, ACudaDeviceOnACpuKindIsRefusedAtCreate) {
  auto cfg = parse_config(
      "streams: [{name: a, url: 'test://ball'}]\nmodels: [{name: m, kind: hog, device: "
      "'cuda:1'}]\n"
      "pipelines: [{name: p, stream: a, model: m}]\n",
      "", "t.yaml");
  ASSERT_TRUE(cfg.ok()) << cfg.error().to_string();
  auto engine = Engine::create(*cfg, options());
  ASSERT_FALSE(engine.ok());
  EXPECT_EQ(engine.error().code, "engine.bad_pipeline");
  EXPECT_NE(engine.error().message.find("model 'm': device:"), std::string::npos)
      << engine.error().message;
  EXPECT_NE(engine.error().message.find("'cuda:1'"), std::string::npos) << engine.error().message;
}

}  // namespace
}  // namespace orion::engine
