// /metrics after an overload (issue 10): a pipeline slower than its camera (HOG on 640×480 at
// 30 fps) must drop frames, and the counters /metrics shows must be the engine's own. The
// engine runs as `orion up` runs it (EngineNode + the API's server with the engine's metrics)
// on a SQLite file; the camera is a real RTSP source, stopped once frames were dropped so the
// counts stand still and can be compared exactly (a running camera moves them between two reads).
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "api/testing/api_client.h"
#include "control/local_system.h"
#include "media/testing/rtsp_fixtures.h"
#include "metrics/testing/exposition.h"
#include "testing/wait.h"
#include "testing/watchdog.h"

#ifndef ORION_BINARY
#error "ORION_BINARY must name the orion executable"
#endif

namespace orion::control {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;
using orion::testing::wait_until;

std::optional<engine::PipelineStats> pipeline(engine::Engine& e, const std::string& name) {
  for (auto& p : e.pipelines())
    if (p.name == name) return p;
  return std::nullopt;
}

TEST(MetricsOverload, DroppedFramesOnMetricsAreTheEnginesOwnCounts) {
  orion::testing::Watchdog dog(Duration::seconds(120), "metrics overload");
  const fs::path dir =
      fs::temp_directory_path() / ("orion_metrics_overload_" + std::to_string(::getpid()));
  fs::create_directories(dir);
  const std::string db = "sqlite://" + (dir / "orion.db").string();
  auto camera = media::testing::RtspSourceFixture::serve_pattern(640, 480, 30);
  ASSERT_TRUE(camera.ok()) << camera.error().to_string();

  LocalSystemOptions so = loopback_options(db, ORION_BINARY);
  auto up = LocalSystem::start(so);
  ASSERT_TRUE(up.ok()) << up.error().to_string();
  EngineNode* n = &(*up)->node();
  api::testing::ApiClient client((*up)->base_url());

  ASSERT_EQ(client.post("/api/v1/models", json{{"name", "people"}, {"kind", "hog"}}).status, 201);
  ASSERT_EQ(client.post("/api/v1/streams", json{{"name", "cam"}, {"url", (*camera)->url()}}).status,
            201);
  ASSERT_EQ(
      client
          .post("/api/v1/pipelines", json{{"name", "slow"}, {"stream", "cam"}, {"model", "people"}})
          .status,
      201);
  engine::Engine& e = n->engine();
  ASSERT_TRUE(wait_until(
      [&] {
        auto p = pipeline(e, "slow");
        return p && p->results > 3 && p->dropped > 20;
      },
      Duration::seconds(60)))
      << "the slow pipeline never dropped frames";

  // Stop the camera: no more frames are offered, so offered and dropped stand still.
  (*camera)->stop();
  ASSERT_TRUE(
      wait_until([&] { return e.report("cam")->capture.state != media::StreamState::kLive; },
                 Duration::seconds(30)));
  engine::PipelineStats before = *pipeline(e, "slow");
  ASSERT_TRUE(wait_until(
      [&] {
        const engine::PipelineStats now = *pipeline(e, "slow");
        const bool still =
            now.offered == before.offered && now.dropped == before.dropped && now.pending == 0;
        before = now;
        return still && now.state == engine::PipelineState::kRunning && !now.lease_held;
      },
      Duration::seconds(20), Duration::millis(300)))
      << "the counts did not settle";

  api::testing::Answer page = client.get("/metrics");
  ASSERT_EQ(page.status, 200);
  auto doc = metrics::testing::parse_exposition(page.body);
  ASSERT_TRUE(doc.ok()) << doc.error().to_string();
  const engine::PipelineStats own = *pipeline(e, "slow");
  auto value = [&](const std::string& family) -> double {
    for (const auto& [labels, v] : doc->of(family))
      if (labels.count("pipeline") && labels.at("pipeline") == "slow") return v;
    ADD_FAILURE() << family << " has no series for pipeline slow";
    return -1;
  };
  EXPECT_GT(own.dropped, 0u);
  EXPECT_EQ(value("orion_pipeline_frames_dropped_total"), static_cast<double>(own.dropped));
  EXPECT_EQ(value("orion_pipeline_frames_offered_total"), static_cast<double>(own.offered));
  EXPECT_EQ(value("orion_pipeline_frames_taken_total"), static_cast<double>(own.taken));
  EXPECT_EQ(own.offered, own.taken + own.dropped + own.pending);
  std::printf("overload: offered %llu, taken %llu, dropped %llu (metrics and engine agree)\n",
              static_cast<unsigned long long>(own.offered),
              static_cast<unsigned long long>(own.taken),
              static_cast<unsigned long long>(own.dropped));

  // The status row the API shows comes from the same counters (the reporter's next round).
  ASSERT_TRUE(wait_until(
      [&] {
        api::testing::Answer stats = client.get("/api/v1/stats");
        return stats.status == 200 &&
               stats.body.find("\"dropped\":" + std::to_string(own.dropped)) != std::string::npos;
      },
      Duration::seconds(10)))
      << client.get("/api/v1/stats").body;
  (*up)->stop();
  fs::remove_all(dir);
}

}  // namespace
}  // namespace orion::control
