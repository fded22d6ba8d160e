#include "core/result_store.h"

#include <gtest/gtest.h>

namespace orion {
namespace {

DetectionResult result(StreamId stream, std::string pipeline, uint64_t seq, int n_dets = 1) {
  DetectionResult r;
  r.pipeline = std::move(pipeline);
  r.frame.stream = stream;
  r.frame.sequence = seq;
  for (int i = 0; i < n_dets; ++i) r.detections.push_back({0, "person", 0.9f, {0, 0, 10, 10}});
  return r;
}

TEST(ResultStore, KeepsTheNewestResultPerPipelineAndStream) {
  ResultStore store;
  EXPECT_TRUE(store.put(result(1, "people", 3)));
  EXPECT_TRUE(store.put(result(1, "people", 5)));
  auto got = store.latest(1);
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0].frame.sequence, 5u);
}

TEST(ResultStore, ALateResultNeverReplacesANewerOne) {
  ResultStore store;
  ASSERT_TRUE(store.put(result(1, "people", 5)));
  EXPECT_FALSE(store.put(result(1, "people", 4)));
  EXPECT_EQ(store.latest(1)[0].frame.sequence, 5u);
}

TEST(ResultStore, SeparatesStreamsAndPipelines) {
  ResultStore store;
  ASSERT_TRUE(store.put(result(1, "b", 1)));
  ASSERT_TRUE(store.put(result(1, "a", 1)));
  ASSERT_TRUE(store.put(result(2, "a", 9)));
  auto s1 = store.latest(1);
  ASSERT_EQ(s1.size(), 2u);
  EXPECT_EQ(s1[0].pipeline, "a");
  EXPECT_EQ(s1[1].pipeline, "b");
  EXPECT_EQ(store.latest(2).size(), 1u);
  EXPECT_TRUE(store.latest(3).empty());
}

TEST(ResultStore, ClearPipelineForgetsItOnEveryStream) {
  ResultStore store;
  ASSERT_TRUE(store.put(result(1, "a", 1)));
  ASSERT_TRUE(store.put(result(2, "a", 1)));
  ASSERT_TRUE(store.put(result(2, "b", 1)));
  store.clear_pipeline("a");
  EXPECT_TRUE(store.latest(1).empty());
  EXPECT_EQ(store.latest(2).size(), 1u);
}

TEST(Iou, IsOneForEqualBoxesAndZeroForDisjointOnes) {
  Box a{0, 0, 10, 10}, b{20, 20, 30, 30}, c{5, 0, 15, 10};
  EXPECT_FLOAT_EQ(iou(a, a), 1.0f);
  EXPECT_FLOAT_EQ(iou(a, b), 0.0f);
  EXPECT_NEAR(iou(a, c), 50.0f / 150.0f, 1e-6);
}

}  // namespace
}  // namespace orion
