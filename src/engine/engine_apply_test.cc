// Engine::apply(): live reconfiguration in one process (issue 10). Two streams run with a
// worker each, read by real RTSP clients; a third stream and its pipeline are added, changed and
// deleted while they run. The two first streams' outputs never skip more than one frame of
// their own sequence (a real client reads the sequence stamps), and their workers keep their pids.
#include <gtest/gtest.h>
#include <signal.h>

#include <chrono>
#include <optional>

#include "engine/engine.h"
#include "engine/worker_test_support.h"
#include "media/testing/rtsp_fixtures.h"
#include "testing/watchdog.h"

#ifndef ORION_BINARY
#error "ORION_BINARY must be defined by CMake"
#endif

namespace orion::engine {
namespace {

using namespace std::chrono_literals;
using media::testing::ReceivedFrame;
using media::testing::RtspTestClient;
using testing::eventually;
using testing::find_pipeline;

constexpr int kFps = 25;

EngineOptions options() {
  EngineOptions o = testing::worker_engine_options(ORION_BINARY, size_t{640} * 480 * 3);
  o.stamp_sequence = true;
  return o;
}

StreamConfig stream(const std::string& name, int width = 320) {
  StreamConfig s;
  s.name = name;
  s.url = "test://ball?width=" + std::to_string(width) + "&height=240&fps=" + std::to_string(kFps);
  return s;
}

PipelineConfig pipeline(const std::string& name, const std::string& stream_name,
                        float min_score = 0.25f) {
  PipelineConfig p;
  p.name = name;
  p.stream = stream_name;
  p.model = "quick";
  p.min_score = min_score;
  return p;
}

ModelConfig model(const std::string& name, const std::string& kind) {
  ModelConfig m;
  m.name = name;
  m.kind = kind;
  return m;
}

Config base() {
  Config c;
  c.streams = {stream("a"), stream("b")};
  c.models = {model("quick", "fake")};
  c.pipelines = {pipeline("pa", "a"), pipeline("pb", "b")};
  return c;
}

// How a client saw one output: the largest step between consecutive sequence stamps (1 = no
// frame skipped), repeated or backwards pictures, and the longest wait between two pictures.
struct Continuity {
  uint64_t frames = 0;
  uint64_t max_step = 0;
  uint64_t backwards = 0;
  Duration max_wait;
};

Continuity continuity(const std::vector<ReceivedFrame>& frames, size_t from) {
  Continuity c;
  std::optional<uint64_t> prev;
  std::optional<Timestamp> prev_arrival;
  for (size_t i = from; i < frames.size(); ++i) {
    const ReceivedFrame& f = frames[i];
    if (!f.sequence) continue;
    ++c.frames;
    if (prev) {
      if (*f.sequence <= *prev)
        ++c.backwards;
      else
        c.max_step = std::max(c.max_step, *f.sequence - *prev);
    }
    if (prev_arrival) c.max_wait = std::max(c.max_wait, f.arrival - *prev_arrival);
    prev = f.sequence;
    prev_arrival = f.arrival;
  }
  return c;
}

bool running_with_results(const Engine& e, const std::string& name) {
  auto p = find_pipeline(e, name);
  return p && p->state == PipelineState::kRunning && p->results > 0;
}

TEST(EngineApply, AddChangeAndDeleteAStreamWithoutTouchingTheOthers) {
  orion::testing::Watchdog dog(Duration::seconds(150), "engine apply");
  auto engine = Engine::create(base(), options());
  ASSERT_TRUE(engine.ok()) << engine.error().to_string();
  Engine& e = **engine;
  ASSERT_TRUE(e.start().ok());
  ASSERT_TRUE(eventually(
      [&] { return running_with_results(e, "pa") && running_with_results(e, "pb"); }, 30s));
  const int pid_a = find_pipeline(e, "pa")->pid, pid_b = find_pipeline(e, "pb")->pid;

  auto client_a = RtspTestClient::start(e.output_url("a"));
  auto client_b = RtspTestClient::start(e.output_url("b"));
  ASSERT_TRUE(client_a.ok() && client_b.ok());
  ASSERT_TRUE(eventually(
      [&] { return (*client_a)->frames().size() > 10 && (*client_b)->frames().size() > 10; }, 20s));
  const size_t from_a = (*client_a)->frames().size(), from_b = (*client_b)->frames().size();

  // Add stream c with a pipeline: its output plays, its worker runs.
  Config with_c = base();
  with_c.streams.push_back(stream("c"));
  with_c.pipelines.push_back(pipeline("pc", "c"));
  ApplyReport added = e.apply(with_c);
  EXPECT_TRUE(added.errors.empty()) << added.errors.front();
  EXPECT_EQ(added.streams_added, 1);
  EXPECT_EQ(added.pipelines_added, 1);
  EXPECT_EQ(added.streams_removed + added.streams_changed + added.pipelines_changed +
                added.pipelines_removed,
            0);
  // A client that asks before the new output's encoder has produced its first picture is refused
  // (the mount has no stream description yet): ask again, as a viewer would.
  std::unique_ptr<RtspTestClient> client_c;
  ASSERT_TRUE(eventually(
      [&] {
        if (client_c && client_c->ended()) client_c.reset();
        if (!client_c) {
          auto c = RtspTestClient::start(e.output_url("c"));
          if (c.ok()) client_c = std::move(c.value());
        }
        return client_c && client_c->frames().size() > 5;
      },
      15s))
      << "c's output did not play";
  ASSERT_TRUE(eventually([&] { return running_with_results(e, "pc"); }, 30s));
  const int pid_c = find_pipeline(e, "pc")->pid;
  const uint64_t c_attempts = e.report("c")->capture.attempts;

  // The same desired state again changes nothing.
  EXPECT_FALSE(e.apply(with_c).changed());

  // Change pc's min_score: a fresh worker with the new spec; c's capture is not restarted.
  Config score = with_c;
  score.pipelines.back().min_score = 0.6f;
  ApplyReport changed = e.apply(score);
  EXPECT_EQ(changed.pipelines_changed, 1);
  EXPECT_EQ(changed.streams_changed + changed.streams_added + changed.streams_removed, 0);
  ASSERT_TRUE(eventually(
      [&] {
        auto p = find_pipeline(e, "pc");
        return p && p->pid != 0 && p->pid != pid_c && p->state == PipelineState::kRunning;
      },
      30s))
      << "pc was not given a new worker";
  EXPECT_EQ(e.report("c")->capture.attempts, c_attempts) << "c's capture was restarted";
  const int find_pid_of_new_c = find_pipeline(e, "pc")->pid;
  const size_t seen_c = client_c->frames().size();
  ASSERT_TRUE(eventually([&] { return client_c->frames().size() > seen_c + 10; }, 10s));

  // Change c's source (a new size): a new capture into the same output; the viewer stays.
  Config wide = score;
  wide.streams.back() = stream("c", 480);
  ApplyReport moved = e.apply(wide);
  EXPECT_EQ(moved.streams_changed, 1);
  EXPECT_EQ(moved.pipelines_changed + moved.pipelines_removed, 0);
  ASSERT_TRUE(eventually(
      [&] {
        auto f = client_c->frames();
        return !f.empty() && f.back().width == 480;
      },
      15s))
      << "c's viewer did not see the new source";

  // Delete c: its output and its worker go.
  ApplyReport removed = e.apply(base());
  EXPECT_EQ(removed.streams_removed, 1);
  EXPECT_EQ(removed.pipelines_removed, 1);
  EXPECT_FALSE(e.report("c").has_value());
  EXPECT_FALSE(find_pipeline(e, "pc").has_value());
  ASSERT_TRUE(
      eventually([&] { return ::kill(pid_c, 0) != 0 && ::kill(find_pid_of_new_c, 0) != 0; }, 10s));
  ASSERT_TRUE(eventually([&] { return client_c->ended(); }, 10s))
      << "c's viewer was not disconnected";
  auto late = RtspTestClient::start(e.output_url("c"));
  ASSERT_TRUE(late.ok());
  ASSERT_TRUE(eventually([&] { return (*late)->ended(); }, 10s)) << "c is still served";
  EXPECT_TRUE((*late)->frames().empty());

  // Throughout: a and b never skipped more than one frame, and their workers were never touched.
  const size_t before_a = (*client_a)->frames().size();
  ASSERT_TRUE(eventually([&] { return (*client_a)->frames().size() > before_a + 10; }, 10s));
  for (const auto& [client, from, name] :
       {std::tuple{client_a->get(), from_a, "a"}, std::tuple{client_b->get(), from_b, "b"}}) {
    const Continuity c = continuity(client->frames(), from);
    std::printf(
        "output %s during reconfiguration: %llu frames, largest sequence step %llu, longest wait "
        "%.0f ms\n",
        name, static_cast<unsigned long long>(c.frames),
        static_cast<unsigned long long>(c.max_step), c.max_wait.as_millis());
    EXPECT_GT(c.frames, 50u) << name;
    EXPECT_EQ(c.backwards, 0u) << name << ": a picture repeated or went backwards";
    EXPECT_LE(c.max_step, 2u) << name << ": frames skipped during reconfiguration";
  }
  EXPECT_EQ(find_pipeline(e, "pa")->pid, pid_a);
  EXPECT_EQ(find_pipeline(e, "pb")->pid, pid_b);
  EXPECT_EQ(find_pipeline(e, "pa")->restarts, 0u);
  EXPECT_EQ(find_pipeline(e, "pb")->restarts, 0u);
}

TEST(EngineApply, WhatCannotRunIsReportedAndRunsOnceFixed) {
  orion::testing::Watchdog dog(Duration::seconds(90), "engine apply errors");
  auto engine = Engine::create(base(), options());
  ASSERT_TRUE(engine.ok());
  Engine& e = **engine;
  ASSERT_TRUE(e.start().ok());

  // An unknown model kind and a stream whose url is refused: each reported, nothing else hurt.
  Config bad = base();
  bad.models.push_back(model("typo", "yolo9000"));
  PipelineConfig px_config = pipeline("px", "a");
  px_config.model = "typo";
  bad.pipelines.push_back(px_config);
  StreamConfig refused = stream("d");
  refused.url = "ftp://nowhere/x";
  bad.streams.push_back(refused);
  bad.pipelines.push_back(pipeline("pd", "d"));
  ApplyReport r = e.apply(bad);
  EXPECT_EQ(r.errors.size(), 2u);
  auto px = find_pipeline(e, "px");
  ASSERT_TRUE(px.has_value());
  EXPECT_EQ(px->state, PipelineState::kFailed);
  EXPECT_NE(px->last_error.find("unknown kind 'yolo9000'"), std::string::npos) << px->last_error;
  auto pd = find_pipeline(e, "pd");
  ASSERT_TRUE(pd.has_value());
  EXPECT_EQ(pd->state, PipelineState::kFailed);
  EXPECT_NE(pd->last_error.find("stream 'd' is not running"), std::string::npos) << pd->last_error;
  EXPECT_EQ(e.report("d")->capture.state, media::StreamState::kFailed);
  // Applying the same again is not a change (no churn on what cannot run).
  EXPECT_FALSE(e.apply(bad).changed());
  ASSERT_TRUE(eventually([&] { return running_with_results(e, "pa"); }, 30s));

  // Fix the url: the stream starts and its waiting pipeline with it.
  Config fixed = bad;
  fixed.streams.back() = stream("d");
  ApplyReport f = e.apply(fixed);
  EXPECT_EQ(f.streams_changed, 1);
  ASSERT_TRUE(eventually([&] { return running_with_results(e, "pd"); }, 30s))
      << find_pipeline(e, "pd")->last_error;
}

TEST(EngineApply, AStreamTakesAsManyPipelinesAsItsPoolHasRoomFor) {
  orion::testing::Watchdog dog(Duration::seconds(90), "engine apply limit");
  EngineOptions o = options();
  o.max_pipelines_per_stream = 2;
  auto engine = Engine::create(base(), o);
  ASSERT_TRUE(engine.ok());
  Engine& e = **engine;
  ASSERT_TRUE(e.start().ok());
  Config more = base();
  more.pipelines.push_back(pipeline("pa2", "a"));
  more.pipelines.push_back(pipeline("pa3", "a"));
  ApplyReport r = e.apply(more);
  ASSERT_EQ(r.errors.size(), 1u);
  EXPECT_NE(r.errors[0].find("engine.too_many_pipelines"), std::string::npos) << r.errors[0];
  ASSERT_TRUE(eventually([&] { return running_with_results(e, "pa2"); }, 30s));
  EXPECT_EQ(find_pipeline(e, "pa3")->state, PipelineState::kFailed);
}

}  // namespace
}  // namespace orion::engine
