// from_status(): the store's status rows become samples field for field, and what a row does not
// have (a pipeline's stream, its motion gate figure) stays out of the page.
#include "metrics/from_status.h"

#include <gtest/gtest.h>

#include "metrics/testing/exposition.h"

namespace orion::metrics {
namespace {

store::StreamStatusRecord stream_row(const std::string& name, uint64_t base) {
  store::StreamStatusRecord r;
  r.stream = name;
  r.engine_id = "engine-" + name;
  r.state = "live";
  r.last_error = "rtsp: timeout";
  r.fps_in = 25.5;
  r.fps_out = 24.25;
  r.frames_in = base + 1;
  r.frames_out = base + 2;
  r.reconnects = base + 3;
  r.output_url = "rtsp://127.0.0.1:8554/" + name;
  r.updated_at = "2026-12-01T20:13:09.123Z";
  return r;
}

store::PipelineStatusRecord pipeline_row(const std::string& name, uint64_t base) {
  store::PipelineStatusRecord r;
  r.pipeline = name;
  r.engine_id = "engine-" + name;
  r.state = "running";
  r.last_error = "worker.crashed: signal 9";
  r.pid = 4242;
  r.restarts = base + 1;
  r.restart_reasons = {{"crashed", base + 1}};
  r.violations = {{"result.bad_json", base + 2}};
  r.offered = base + 3;
  r.taken = base + 4;
  r.dropped = base + 5;
  r.results = base + 6;
  r.last_result_age_s = 1.5;
  r.updated_at = "2026-12-01T20:13:09.123Z";
  return r;
}

TEST(FromStatus, MapsEveryStreamFieldThatIsAMetric) {
  const auto rows = std::vector{stream_row("cam1", 100), stream_row("cam2", 200)};
  const Snapshot s = from_status(rows, {});
  ASSERT_EQ(s.streams.size(), 2u);
  for (size_t i = 0; i < rows.size(); ++i) {
    const StreamSample& m = s.streams[i];
    EXPECT_EQ(m.stream, rows[i].stream);
    EXPECT_EQ(m.engine, rows[i].engine_id);
    EXPECT_EQ(m.state, rows[i].state);
    EXPECT_EQ(m.frames_in, rows[i].frames_in);
    EXPECT_EQ(m.frames_out, rows[i].frames_out);
    EXPECT_EQ(m.reconnects, rows[i].reconnects);
    EXPECT_EQ(m.fps_in, rows[i].fps_in);
    EXPECT_EQ(m.fps_out, rows[i].fps_out);
  }
  EXPECT_TRUE(s.pipelines.empty());
  EXPECT_FALSE(s.events.present);
  EXPECT_FALSE(s.process.present);
  EXPECT_FALSE(s.store_up.has_value());
}

TEST(FromStatus, MapsEveryPipelineFieldThatIsAMetricAndLeavesTheRestUnset) {
  auto rows = std::vector{pipeline_row("people", 10), pipeline_row("cars", 20)};
  rows[1].last_result_age_s = -1;
  const Snapshot s = from_status({}, rows);
  ASSERT_EQ(s.pipelines.size(), 2u);
  for (size_t i = 0; i < rows.size(); ++i) {
    const PipelineSample& m = s.pipelines[i];
    EXPECT_EQ(m.pipeline, rows[i].pipeline);
    EXPECT_EQ(m.engine, rows[i].engine_id);
    EXPECT_EQ(m.state, rows[i].state);
    EXPECT_EQ(m.offered, rows[i].offered);
    EXPECT_EQ(m.taken, rows[i].taken);
    EXPECT_EQ(m.dropped, rows[i].dropped);
    EXPECT_EQ(m.results, rows[i].results);
    EXPECT_EQ(m.restarts, rows[i].restarts);
    EXPECT_EQ(m.restart_reasons, rows[i].restart_reasons);
    EXPECT_EQ(m.violations, rows[i].violations);
    EXPECT_EQ(m.last_result_age_s, rows[i].last_result_age_s);
    EXPECT_EQ(m.stream, "") << "the record has no stream";
    EXPECT_FALSE(m.motion_skipped.has_value()) << "the store has no motion figure";
  }
  EXPECT_TRUE(s.streams.empty());
}

TEST(FromStatus, RenderedPipelinesHaveNoStreamLabelNoMotionSeriesAndTheAgeOnlyWithAResult) {
  auto rows = std::vector{pipeline_row("people", 10), pipeline_row("cars", 20)};
  rows[1].last_result_age_s = -1;
  const std::string text = render(from_status({stream_row("cam1", 1)}, rows));
  auto doc = testing::parse_exposition(text);
  ASSERT_TRUE(doc.ok()) << doc.error().to_string() << "\n" << text;
  using Values = std::map<testing::LabelSet, double>;
  const testing::LabelSet people = {{"pipeline", "people"}, {"engine", "engine-people"}};
  const testing::LabelSet cars = {{"pipeline", "cars"}, {"engine", "engine-cars"}};
  EXPECT_EQ(doc->of("orion_pipeline_frames_dropped_total"), (Values{{people, 15}, {cars, 25}}));
  EXPECT_EQ(doc->of("orion_pipeline_last_result_age_seconds"), (Values{{people, 1.5}}));
  EXPECT_EQ(doc->families.count("orion_pipeline_motion_skipped_total"), 0u);
  EXPECT_EQ(doc->of("orion_stream_frames_in_total"),
            (Values{{{{"stream", "cam1"}, {"engine", "engine-cam1"}}, 2}}));
}

}  // namespace
}  // namespace orion::metrics
