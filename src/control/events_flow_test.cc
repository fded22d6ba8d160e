// Detections become events end to end (issue 10): a worker's results, through the engine's
// EventWriter by the pipeline's `events` policy, into the database, out of GET /api/v1/events —
// run as `orion up` runs it (EngineNode + the API's server) on SQLite. The policy is applied
// live: min_interval_ms holds on the frames' capture times, and disabling the policy through the
// API stops new events while the worker keeps producing results.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "api/testing/api_client.h"
#include "control/local_system.h"
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

TEST(EventsFlow, DetectionsBecomeEventsByThePipelinesPolicy) {
  orion::testing::Watchdog dog(Duration::seconds(120), "events flow");
  const fs::path dir =
      fs::temp_directory_path() / ("orion_events_flow_" + std::to_string(::getpid()));
  fs::create_directories(dir);
  const std::string db = "sqlite://" + (dir / "orion.db").string();
  LocalSystemOptions so = loopback_options(db, ORION_BINARY);
  so.node.events.flush_interval = Duration::millis(50);
  auto up = LocalSystem::start(so);
  ASSERT_TRUE(up.ok()) << up.error().to_string();
  EngineNode* n = &(*up)->node();
  api::testing::ApiClient client((*up)->base_url());

  ASSERT_EQ(client.post("/api/v1/models", json{{"name", "quick"}, {"kind", "fake"}}).status, 201);
  ASSERT_EQ(client
                .post("/api/v1/streams",
                      json{{"name", "cam"}, {"url", "test://ball?width=320&height=240&fps=25"}})
                .status,
            201);
  ASSERT_EQ(client
                .post("/api/v1/pipelines",
                      json{{"name", "p"},
                           {"stream", "cam"},
                           {"model", "quick"},
                           {"events", {{"min_score", 0.5}, {"min_interval_ms", 200}}}})
                .status,
            201);
  json events;
  ASSERT_TRUE(wait_until(
      [&] {
        events = client.get("/api/v1/events?pipeline=p&limit=1000").json["events"];
        return events.size() >= 8;
      },
      Duration::seconds(30)))
      << events.dump();
  int64_t previous_capture = 0;
  uint64_t previous_sequence = 0;
  for (const json& e : events) {
    EXPECT_EQ(e["stream"], "cam");
    EXPECT_EQ(e["pipeline"], "p");
    EXPECT_EQ(e["class_name"], "object");
    EXPECT_NEAR(e["score"].get<double>(), 0.9, 1e-6);
    // The fake detector's box, the middle half of the 320×240 frame.
    EXPECT_NEAR(e["box"]["x1"].get<double>(), 80, 1e-3);
    EXPECT_NEAR(e["box"]["y2"].get<double>(), 180, 1e-3);
    const uint64_t sequence = e["sequence"].get<uint64_t>();
    const int64_t capture = e["capture_ns"].get<int64_t>();
    EXPECT_GT(sequence, previous_sequence);
    if (previous_capture != 0) {
      EXPECT_GE(capture - previous_capture, 200'000'000) << "min_interval_ms not held";
    }
    previous_sequence = sequence;
    previous_capture = capture;
  }
  const auto results = [&] {
    for (const auto& p : n->engine().pipelines())
      if (p.name == "p") return p.results;
    return uint64_t{0};
  };
  EXPECT_LT(events.size(), results())
      << "every result became an event: the interval is not applied";
  const events::EventWriterStats written = n->events();
  EXPECT_GT(written.rate_limited, 0u);
  EXPECT_EQ(written.dropped + written.failed, 0u);

  // Disable the policy: once applied (the writer's counters say so), no new event.
  json current = client.get("/api/v1/pipelines/p").json;
  ASSERT_EQ(client
                .patch("/api/v1/pipelines/p",
                       json{{"events", {{"enabled", false}}}, {"version", current["version"]}})
                .status,
            200);
  ASSERT_TRUE(
      wait_until([&] { return n->events().ignored > written.ignored; }, Duration::seconds(10)))
      << "the disabled policy was not applied";
  const uint64_t stored = n->events().written;
  const uint64_t results_then = results();
  ASSERT_TRUE(wait_until([&] { return results() > results_then + 25; }, Duration::seconds(20)));
  EXPECT_EQ(n->events().written, stored);
  EXPECT_EQ(client.get("/api/v1/events?pipeline=p&limit=1000").json["events"].size(), stored);
  (*up)->stop();
  fs::remove_all(dir);
}

}  // namespace
}  // namespace orion::control
