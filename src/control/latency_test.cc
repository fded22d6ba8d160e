// Latency truth (engine/latency_book.h): the histograms' arithmetic and bounds on a worker's
// claims, then end to end with a real worker process: every frame handed to the encoder is in
// the stream's histograms and every accepted result in the pipeline's — counted exactly, none
// sampled — and /metrics serves them as Prometheus histograms.
#include <gtest/gtest.h>

#include <chrono>

#include "control/engine_metrics.h"
#include "engine/engine.h"
#include "engine/worker_test_support.h"
#include "metrics/metrics.h"
#include "testing/watchdog.h"

#ifndef ORION_BINARY
#error "ORION_BINARY must be defined by CMake"
#endif

namespace orion::engine {
namespace {

using namespace std::chrono_literals;

TEST(LatencyHistogram, CountsEverySampleAndReadsPercentilesAsBucketUpperBounds) {
  LatencyHistogram h;
  EXPECT_EQ(h.quantile(0.99), Duration::zero());
  for (int i = 0; i < 98; ++i) h.add(Duration::micros(900));  // bucket (0.75 ms, 1 ms]
  h.add(Duration::millis(7));                                 // (6.5 ms, 8 ms]
  h.add(Duration::millis(42));                                // (40 ms, 50 ms]
  EXPECT_EQ(h.count(), 100u);
  EXPECT_NEAR(h.sum_seconds(), 98 * 0.0009 + 0.007 + 0.042, 1e-9);
  EXPECT_EQ(h.quantile(0.50), Duration::millis(1));
  EXPECT_EQ(h.quantile(0.99), Duration::millis(8));
  EXPECT_EQ(h.quantile(1.0), Duration::millis(42));  // the top bucket's bound is capped at max
  EXPECT_EQ(h.max(), Duration::millis(42));
  uint64_t total = 0;
  for (uint64_t c : h.counts()) total += c;
  EXPECT_EQ(total, 100u);
  EXPECT_EQ(h.counts().size(), LatencyHistogram::bounds().size() + 1);
  h.add(Duration::seconds(100));  // above every bound: the overflow bucket
  EXPECT_EQ(h.counts().back(), 1u);
}

TEST(LatencyBook, AWorkersClaimedTimesAreBoundedByWhatTheEngineKnows) {
  LatencyBook book;
  const Timestamp decoded = Timestamp::from_nanos(1'000'000'000);
  const Timestamp published = decoded + Duration::millis(2);
  const Timestamp back = decoded + Duration::millis(50);
  // Honest: done 40 ms after decoding, 30 ms of inference → started at 10 ms.
  book.result("p", "s", decoded, published, back, decoded + Duration::millis(40),
              Duration::millis(30));
  // Lies: done after the result came back, inference longer than the frame existed.
  book.result("p", "s", decoded, published, back, back + Duration::seconds(5),
              Duration::seconds(9));
  // A result from before the frame existed.
  book.result("p", "s", decoded, published, back, decoded - Duration::seconds(1),
              Duration::millis(1));
  const auto p = book.pipelines().at("p");
  EXPECT_EQ(p.stream, "s");
  EXPECT_EQ(p.clamped, 2u);
  EXPECT_EQ(p.result_latency.count(), 3u);
  EXPECT_EQ(p.result_latency.max(), Duration::millis(50));  // engine-measured: back - decoded
  // Never older than the result, never longer than the frame lived.
  EXPECT_LE(p.frame_age_at_inference.max(), Duration::millis(50));
  EXPECT_LE(p.inference.max(), Duration::millis(48));
  EXPECT_EQ(p.inference.count(), 3u);
  book.result_drawn("p", Duration::millis(70));
  book.result_drawn("unknown", Duration::millis(70));  // a pipeline with no result: ignored
  EXPECT_EQ(book.pipelines().at("p").result_age_drawn.count(), 1u);
  EXPECT_EQ(book.pipelines().count("unknown"), 0u);
  book.forget_pipeline("p");
  EXPECT_TRUE(book.pipelines().empty());
}

uint64_t metric_value(const std::string& text, const std::string& series) {
  const size_t at = text.find(series + " ");
  if (at == std::string::npos) return UINT64_MAX;
  return std::stoull(text.substr(at + series.size() + 1));
}

TEST(EngineLatency, EveryFrameAndEveryResultIsCountedExactlyAndServedInMetrics) {
  orion::testing::Watchdog dog(Duration::seconds(90), "engine latency");
  auto cfg = parse_config(
      "streams:\n"
      "  - {name: cam, url: 'test://ball?width=320&height=240&fps=25'}\n"
      "models:\n"
      "  - {name: quick, kind: fake, fake_delay_ms: 20}\n"
      "pipelines:\n"
      "  - {name: det, stream: cam, model: quick, sla: critical}\n",
      "", "test.yaml");
  ASSERT_TRUE(cfg.ok()) << cfg.error().to_string();
  auto engine =
      Engine::create(*cfg, testing::worker_engine_options(ORION_BINARY, size_t{640} * 480 * 3));
  ASSERT_TRUE(engine.ok()) << engine.error().to_string();
  Engine& e = **engine;
  ASSERT_TRUE(e.start().ok());
  ASSERT_TRUE(testing::eventually(
      [&] {
        auto p = testing::find_pipeline(e, "det");
        return p && p->results >= 20 && e.report("cam")->compositor.frames >= 50;
      },
      45s));
  e.stop();  // every figure final
  const auto frames = e.report("cam")->compositor.frames;
  const uint64_t results = e.results().puts();  // one put per accepted result (one pipeline)
  const StreamLatency s = e.latency().streams().at("cam");
  ASSERT_GE(results, 20u);
  EXPECT_EQ(s.output_latency.count(), frames);  // every frame, none sampled
  EXPECT_EQ(s.decode_to_publish.count(), frames);
  EXPECT_EQ(s.composite_to_encoder.count(), frames);
  EXPECT_GT(s.output_latency.max(), Duration::zero());
  EXPECT_LE(s.decode_to_publish.max(), s.output_latency.max());
  const PipelineLatency p = e.latency().pipelines().at("det");
  EXPECT_EQ(p.stream, "cam");
  EXPECT_EQ(p.result_latency.count(), results);
  EXPECT_EQ(p.inference.count(), results);
  EXPECT_EQ(p.clamped, 0u);  // Orion's own worker tells the truth
  // 20 ms of fake inference: the claimed inference time says so, within the engine's bounds.
  EXPECT_GE(p.inference.quantile(0.5), Duration::millis(20));
  EXPECT_LE(p.inference.max(), p.result_latency.max());
  EXPECT_GT(p.result_age_drawn.count(), 0u);
  EXPECT_GE(p.result_age_drawn.quantile(0.5), Duration::millis(20));  // drawn after inference

  const std::string text = metrics::render(control::engine_snapshot(e, "e1", {}));
  EXPECT_NE(text.find("# TYPE orion_stream_output_latency_seconds histogram"), std::string::npos)
      << text;
  EXPECT_EQ(
      metric_value(text, "orion_stream_output_latency_seconds_count{engine=\"e1\",stream=\"cam\"}"),
      frames);
  EXPECT_EQ(
      metric_value(
          text,
          "orion_stream_output_latency_seconds_bucket{engine=\"e1\",stream=\"cam\",le=\"+Inf\"}"),
      frames)
      << text.substr(text.find("orion_stream_output_latency_seconds_bucket"), 300);
  EXPECT_EQ(metric_value(text,
                         "orion_pipeline_result_latency_seconds_count{engine=\"e1\",pipeline="
                         "\"det\",stream=\"cam\"}"),
            results);
  EXPECT_NE(text.find("orion_pipeline_frame_age_at_inference_seconds_bucket"), std::string::npos);
  EXPECT_NE(text.find("orion_pipeline_inference_seconds_sum"), std::string::npos);
  EXPECT_NE(text.find("orion_pipeline_result_age_drawn_seconds_count"), std::string::npos);
}

}  // namespace
}  // namespace orion::engine
