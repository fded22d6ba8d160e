// The motion gate end to end: `motion_gate` in the YAML config → Engine → supervisor →
// configure message → the real `orion worker` process, which runs MotionGate::update() before
// its detector and reports the gate's counters in its heartbeats → Engine::pipelines().
// A static test pattern (smpte) with the gate runs the detector on a handful of frames only;
// the same stream without the gate runs it on every frame; a moving pattern (ball) passes.
#include <gtest/gtest.h>
#include <signal.h>

#include <chrono>
#include <functional>
#include <map>
#include <optional>

#include "engine/engine.h"
#include "engine/worker_test_support.h"
#include "testing/watchdog.h"

#ifndef ORION_BINARY
#error "ORION_BINARY must be defined by CMake"
#endif

namespace orion::engine {
namespace {

using namespace std::chrono_literals;

using testing::eventually;

EngineOptions options() { return testing::worker_engine_options(ORION_BINARY, size_t{320} * 240 * 3); }

PipelineStats pipeline(const Engine& e, const std::string& name) {
  if (auto p = testing::find_pipeline(e, name)) return *p;
  ADD_FAILURE() << "no pipeline " << name;
  return {};
}

std::string describe(const PipelineStats& p) {
  return p.name + ": taken " + std::to_string(p.taken) + ", results " + std::to_string(p.results) +
         ", motion frames " + std::to_string(p.motion_frames) + ", passed " +
         std::to_string(p.motion_passed) + ", skipped " + std::to_string(p.motion_skipped) +
         ", restarts " + std::to_string(p.restarts) + ", last error '" + p.last_error + "'";
}

TEST(EngineMotionGate, AStaticSceneSkipsTheDetectorOnlyWhenTheGateIsOn) {
  orion::testing::Watchdog dog(Duration::seconds(60), "engine motion gate");
  // smpte is still except for its noise block (6 % of the pixels random in every frame, like a
  // camera's sensor noise): the gate must learn to ignore it. ball moves in every frame.
  auto cfg = parse_config(
      "streams:\n"
      "  - {name: still, url: 'test://smpte?width=320&height=240&fps=25'}\n"
      "  - {name: moving, url: 'test://ball?width=320&height=240&fps=25'}\n"
      "models:\n"
      "  - {name: quick, kind: fake}\n"
      "pipelines:\n"
      "  - {name: gated, stream: still, model: quick, motion_gate: true}\n"
      "  - {name: ungated, stream: still, model: quick}\n"
      "  - {name: gated-ball, stream: moving, model: quick, motion_gate: {min_motion: 0.002}}\n",
      "", "motion.yaml");
  ASSERT_TRUE(cfg.ok()) << cfg.error().to_string();
  auto engine = Engine::create(*cfg, options());
  ASSERT_TRUE(engine.ok()) << engine.error().to_string();
  Engine& e = **engine;
  ASSERT_TRUE(e.start().ok());
  const char* names[] = {"gated", "ungated", "gated-ball"};
  auto all_taken_at_least = [&](const std::map<std::string, PipelineStats>& base, uint64_t n) {
    for (const char* name : names) {
      const uint64_t from = base.count(name) ? base.at(name).taken : 0;
      if (pipeline(e, name).taken < from + n) return false;
    }
    return true;
  };
  auto snapshot = [&] {
    std::map<std::string, PipelineStats> m;
    for (const char* name : names) m[name] = pipeline(e, name);
    return m;
  };

  // One second of frames: the background model has learnt the scene (its first ~6 frames pass
  // while MOG2 learns the noise block's variance).
  ASSERT_TRUE(eventually([&] { return all_taken_at_least({}, 25); }, 20s))
      << describe(pipeline(e, "gated")) << "\n"
      << describe(pipeline(e, "ungated")) << "\n"
      << describe(pipeline(e, "gated-ball"));
  // Steady state: 40 more frames (1.6 s); counters arrive with the heartbeats (every 100 ms).
  const auto s1 = snapshot();
  ASSERT_TRUE(eventually([&] { return all_taken_at_least(s1, 40); }, 10s));
  // The gate's counters come with the heartbeats: wait until they cover those 40 frames.
  ASSERT_TRUE(eventually(
      [&] {
        const auto now = snapshot();
        return now.at("gated").motion_frames >= s1.at("gated").motion_frames + 40 &&
               now.at("gated-ball").motion_frames >= s1.at("gated-ball").motion_frames + 40 &&
               now.at("ungated").results >= s1.at("ungated").results + 40;
      },
      10s))
      << describe(pipeline(e, "gated")) << "\n"
      << describe(pipeline(e, "gated-ball"));
  const auto s2 = snapshot();
  {
    const PipelineStats &a = s1.at("gated"), &b = s2.at("gated");
    const uint64_t frames = b.motion_frames - a.motion_frames,
                   passed = b.motion_passed - a.motion_passed;
    std::printf("steady state, gated: %llu frames, %llu passed, %llu skipped\n",
                static_cast<unsigned long long>(frames), static_cast<unsigned long long>(passed),
                static_cast<unsigned long long>(b.motion_skipped - a.motion_skipped));
    EXPECT_GE(frames, 40u) << describe(b);
    EXPECT_LE(passed, 1 + frames / 51) << "only the forced refreshes (1 in 51) reach the detector";
    EXPECT_LE(b.results - a.results, 2 + frames / 51);
    const PipelineStats &u1 = s1.at("ungated"), &u2 = s2.at("ungated");
    EXPECT_GE(u2.results - u1.results, 40u) << "without the gate every frame is detected";
    EXPECT_EQ(u2.motion_frames + u2.motion_skipped, 0u);
    const PipelineStats &m1 = s1.at("gated-ball"), &m2 = s2.at("gated-ball");
    EXPECT_GE(m2.motion_passed - m1.motion_passed, 9 * (m2.motion_frames - m1.motion_frames) / 10)
        << describe(m2);
  }

  // Counters survive a worker restart: the new process's are added to the dead one's.
  const PipelineStats before = pipeline(e, "gated");
  ASSERT_EQ(::kill(before.pid, SIGKILL), 0);
  ASSERT_TRUE(eventually(
      [&] {
        const PipelineStats p = pipeline(e, "gated");
        return p.pid != before.pid && p.state == PipelineState::kRunning &&
               p.taken > before.taken + 10 && p.motion_frames > before.motion_frames + 10;
      },
      10s))
      << describe(pipeline(e, "gated"));
  EXPECT_GE(pipeline(e, "gated").motion_skipped, before.motion_skipped);

  e.stop();  // workers send their final counts in their "stopped" line
  const PipelineStats gated = pipeline(e, "gated"), ungated = pipeline(e, "ungated"),
                      ball = pipeline(e, "gated-ball");
  std::printf("totals:\n  %s\n  %s\n  %s\n", describe(gated).c_str(), describe(ungated).c_str(),
              describe(ball).c_str());

  // Gate on, static scene, whole run: every frame the workers took went through the gate (the
  // SIGKILLed process's counts are those of its last heartbeat: a few frames short), and the
  // detector ran once per frame passed.
  EXPECT_TRUE(gated.motion_gate);
  EXPECT_EQ(gated.restarts, 1u);
  EXPECT_EQ(gated.motion_frames, gated.motion_passed + gated.motion_skipped);
  EXPECT_LE(gated.motion_frames, gated.taken);
  EXPECT_LE(gated.taken - gated.motion_frames, 5u) << describe(gated);
  EXPECT_GE(gated.results, gated.motion_passed);
  EXPECT_LE(gated.results, gated.motion_passed + 1) << describe(gated);
  EXPECT_GT(gated.motion_skipped, 3 * gated.motion_passed) << describe(gated);

  // Same stream, no gate: the detector ran on every frame, nothing skipped, nothing counted.
  EXPECT_FALSE(ungated.motion_gate);
  EXPECT_EQ(ungated.restarts, 0u);
  EXPECT_EQ(ungated.motion_frames, 0u);
  EXPECT_EQ(ungated.motion_skipped, 0u);
  EXPECT_EQ(ungated.results, ungated.taken) << describe(ungated);
  EXPECT_GE(ungated.results, 3 * gated.results) << "the gate saved most detector runs";

  // Gate on, moving ball: (nearly) every frame has motion and reaches the detector; exact
  // counts, as this worker stopped cleanly.
  EXPECT_TRUE(ball.motion_gate);
  EXPECT_EQ(ball.motion_frames, ball.taken) << describe(ball);
  EXPECT_EQ(ball.motion_frames, ball.motion_passed + ball.motion_skipped);
  EXPECT_EQ(ball.results, ball.motion_passed);
  EXPECT_GE(ball.motion_passed, 9 * ball.motion_frames / 10) << describe(ball);
}

}  // namespace
}  // namespace orion::engine
