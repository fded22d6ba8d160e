// snapshot_from_store(): what `orion api` renders at GET /metrics, over a real store — SQLite in
// a temp file and a PostgreSQL server started by the test, which the test then stops under it.
#include <gtest/gtest.h>
#include <stdlib.h>

#include <filesystem>
#include <memory>
#include <string>

#include "metrics/from_status.h"
#include "metrics/testing/exposition.h"
#include "store/store.h"
#include "store/testing/postgres_fixture.h"
#include "testing/asset_paths.h"

namespace orion::metrics {
namespace {

namespace fs = std::filesystem;
using Values = std::map<testing::LabelSet, double>;

// A stream, a model and a pipeline (status rows need them), and a status row for each.
void fill(store::Store& s) {
  store::StreamRecord stream;
  stream.name = "cam1";
  stream.url = "rtsp://127.0.0.1:8555/cam1";
  ASSERT_TRUE(s.create_stream(stream).ok());
  store::ModelRecord model;
  model.name = "yolox";
  model.kind = "yolox";
  model.path = "models/yolox_nano.onnx";
  ASSERT_TRUE(s.create_model(model).ok());
  store::PipelineRecord pipeline;
  pipeline.name = "people";
  pipeline.stream = "cam1";
  pipeline.model = "yolox";
  ASSERT_TRUE(s.create_pipeline(pipeline).ok());

  store::StreamStatusRecord ss;
  ss.stream = "cam1";
  ss.engine_id = "e1";
  ss.state = "live";
  ss.frames_in = 500;
  ss.frames_out = 498;
  ss.reconnects = 1;
  ss.fps_in = 25;
  ss.fps_out = 25;
  auto put = s.put_stream_status(ss);
  ASSERT_TRUE(put.ok()) << put.error().to_string();
  store::PipelineStatusRecord ps;
  ps.pipeline = "people";
  ps.engine_id = "e1";
  ps.state = "running";
  ps.offered = 500;
  ps.taken = 200;
  ps.dropped = 299;
  ps.results = 199;
  ps.restarts = 1;
  ps.restart_reasons = {{"crashed", 1}};
  ps.last_result_age_s = 0.5;
  put = s.put_pipeline_status(ps);
  ASSERT_TRUE(put.ok()) << put.error().to_string();
}

void expect_rendered_from_the_rows(const Snapshot& snap) {
  ASSERT_TRUE(snap.store_up.has_value());
  EXPECT_TRUE(*snap.store_up);
  EXPECT_TRUE(snap.comments.empty());
  EXPECT_TRUE(snap.process.present);
  EXPECT_GT(snap.process.rss_bytes, 0u);
  const std::string text = render(snap);
  auto doc = testing::parse_exposition(text);
  ASSERT_TRUE(doc.ok()) << doc.error().to_string() << "\n" << text;
  EXPECT_EQ(doc->of("orion_metrics_store_up"), (Values{{{}, 1}}));
  EXPECT_EQ(doc->of("orion_stream_frames_in_total"),
            (Values{{{{"stream", "cam1"}, {"engine", "e1"}}, 500}}));
  EXPECT_EQ(doc->of("orion_pipeline_frames_dropped_total"),
            (Values{{{{"pipeline", "people"}, {"engine", "e1"}}, 299}}));
  EXPECT_EQ(doc->of("orion_pipeline_restarts_total"),
            (Values{{{{"pipeline", "people"}, {"engine", "e1"}, {"reason", "crashed"}}, 1}}));
  EXPECT_EQ(doc->of("process_resident_memory_bytes").size(), 1u);
}

TEST(SnapshotFromStore, SqliteRowsBecomeTheMetricsWithStoreUp) {
  std::string templ = (fs::temp_directory_path() / "orion-metrics-XXXXXX").string();
  ASSERT_NE(::mkdtemp(templ.data()), nullptr);
  const fs::path dir = templ;
  {
    auto s = store::Store::open("sqlite://" + (dir / "orion.db").string());
    ASSERT_TRUE(s.ok()) << s.error().to_string();
    fill(**s);
    expect_rendered_from_the_rows(snapshot_from_store(**s));
  }
  fs::remove_all(dir);
}

TEST(SnapshotFromStore, PostgresGoneLeavesProcessMetricsAndStoreUpZero) {
  auto pg = store::testing::PostgresServer::start();
  if (!pg.ok()) {
    if (pg.error().code == "postgres.missing" && !orion::testing::running_in_ci()) {
      GTEST_SKIP() << pg.error().to_string();
    }
    FAIL() << pg.error().to_string();
  }
  auto url = (*pg)->fresh_database();
  ASSERT_TRUE(url.ok()) << url.error().to_string();
  auto s = store::Store::open(*url);
  ASSERT_TRUE(s.ok()) << s.error().to_string();
  fill(**s);
  expect_rendered_from_the_rows(snapshot_from_store(**s));

  ASSERT_TRUE((*pg)->stop().ok());
  const Snapshot down = snapshot_from_store(**s);
  ASSERT_TRUE(down.store_up.has_value());
  EXPECT_FALSE(*down.store_up);
  EXPECT_TRUE(down.streams.empty());
  EXPECT_TRUE(down.pipelines.empty());
  EXPECT_TRUE(down.process.present);
  ASSERT_EQ(down.comments.size(), 2u);
  EXPECT_EQ(down.comments[0], "stream status not read from the store (store.unavailable)");
  EXPECT_EQ(down.comments[1], "pipeline status not read from the store (store.unavailable)");

  const std::string text = render(down);
  auto doc = testing::parse_exposition(text);
  ASSERT_TRUE(doc.ok()) << doc.error().to_string() << "\n" << text;
  EXPECT_EQ(doc->of("orion_metrics_store_up"), (Values{{{}, 0}}));
  EXPECT_EQ(doc->of("process_cpu_seconds_total").size(), 1u);
  EXPECT_EQ(doc->families.count("orion_stream_frames_in_total"), 0u);
  EXPECT_EQ(text.find("postgresql://"), std::string::npos) << "no database URL on the page";
}

}  // namespace
}  // namespace orion::metrics
