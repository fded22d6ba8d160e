// Model specs and the kind registry, with two kinds registered by this test (the real backends
// are covered by their own tests).
#include "infer/model_spec.h"

#include <gtest/gtest.h>

#include <algorithm>

#include "infer/registry.h"

namespace orion::infer {
namespace {

Result<DetectorPtr> make_nothing(const DetectorConfig& config) {
  return make_error("test.factory_called", "factory for " + config.kind + " called");
}

}  // namespace
}  // namespace orion::infer

ORION_REGISTER_DETECTOR(testfile,
                        {.kind = "testfile",
                         .description = "test kind with a file",
                         .needs_model_file = true},
                        &orion::infer::make_nothing);
ORION_REGISTER_DETECTOR(testnofile,
                        {.kind = "testnofile",
                         .description = "test kind, no file",
                         .needs_model_file = false},
                        &orion::infer::make_nothing);

namespace orion::infer {
namespace {

TEST(ModelSpec, KindAndPathSplitAtTheFirstColon) {
  auto s = parse_model_spec("testfile:dir/a:b.onnx");
  ASSERT_TRUE(s.ok()) << s.error().to_string();
  EXPECT_EQ(s->kind, "testfile");
  EXPECT_EQ(s->path, "dir/a:b.onnx");
}

TEST(ModelSpec, KindIsCaseInsensitiveAndTrimmed) {
  auto s = parse_model_spec("  TestFile : m.onnx ");
  ASSERT_TRUE(s.ok()) << s.error().to_string();
  EXPECT_EQ(s->kind, "testfile");
  EXPECT_EQ(s->path, "m.onnx");
}

TEST(ModelSpec, KindWithoutFileNeedsNoPath) {
  auto s = parse_model_spec("testnofile");
  ASSERT_TRUE(s.ok()) << s.error().to_string();
  EXPECT_EQ(s->kind, "testnofile");
  EXPECT_TRUE(s->path.empty());
  EXPECT_EQ(to_string(*s), "testnofile");
}

TEST(ModelSpec, RoundTripsThroughToString) {
  ModelSpec spec{"testfile", "x/y.onnx"};
  auto again = parse_model_spec(to_string(spec));
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(*again, spec);
}

TEST(ModelSpec, EmptySpecIsAnError) {
  auto s = parse_model_spec("   ");
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.error().code, "model_spec.empty");
}

TEST(ModelSpec, UnknownKindListsTheKnownOnes) {
  auto s = parse_model_spec("yolo99:m.onnx");
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.error().code, "model_spec.unknown_kind");
  EXPECT_NE(s.error().message.find("unknown kind 'yolo99'"), std::string::npos);
  EXPECT_NE(s.error().message.find("testfile"), std::string::npos);
  EXPECT_NE(s.error().message.find("testnofile"), std::string::npos);
}

TEST(ModelSpec, KindThatNeedsAFileRefusesAMissingPath) {
  for (const char* text : {"testfile", "testfile:", "testfile:  "}) {
    auto s = parse_model_spec(text);
    ASSERT_FALSE(s.ok()) << text;
    EXPECT_EQ(s.error().code, "model_spec.missing_path") << text;
    EXPECT_NE(s.error().message.find("write testfile:PATH"), std::string::npos);
  }
}

TEST(ModelSpec, KindWithoutFileRefusesAPath) {
  auto s = parse_model_spec("testnofile:model.onnx");
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.error().code, "model_spec.unexpected_path");
  EXPECT_NE(s.error().message.find("takes no model file"), std::string::npos);
}

TEST(ModelSpec, ConfigFromSpecCarriesKindAndPath) {
  DetectorConfig c = config_from_spec({"testfile", "m.onnx"});
  EXPECT_EQ(c.kind, "testfile");
  EXPECT_EQ(c.model_path, "m.onnx");
  EXPECT_FLOAT_EQ(c.score_threshold, 0.25f);
}

TEST(Registry, ListsRegisteredKindsSorted) {
  auto kinds = detector_kinds();
  std::vector<std::string> names;
  for (const auto& k : kinds) names.push_back(k.kind);
  EXPECT_TRUE(std::is_sorted(names.begin(), names.end()));
  EXPECT_NE(std::find(names.begin(), names.end(), "testfile"), names.end());
  ASSERT_NE(find_detector_kind("testnofile"), nullptr);
  EXPECT_FALSE(find_detector_kind("testnofile")->needs_model_file);
  EXPECT_EQ(find_detector_kind("nope"), nullptr);
}

TEST(Registry, CreateDispatchesToTheKindsFactory) {
  DetectorConfig c;
  c.kind = "testfile";
  c.model_path = "m.onnx";
  auto d = create_detector(c);
  ASSERT_FALSE(d.ok());
  EXPECT_EQ(d.error().code, "test.factory_called");
}

TEST(Registry, CreateRefusesUnknownKindsAndBadThresholds) {
  DetectorConfig c;
  c.kind = "nope";
  auto d = create_detector(c);
  ASSERT_FALSE(d.ok());
  EXPECT_EQ(d.error().code, "detector.unknown_kind");

  c.kind = "testfile";
  c.model_path = "m.onnx";
  c.score_threshold = 1.5f;
  d = create_detector(c);
  ASSERT_FALSE(d.ok());
  EXPECT_EQ(d.error().code, "detector.bad_config");

  c.score_threshold = 0.25f;
  c.model_path.clear();
  d = create_detector(c);
  ASSERT_FALSE(d.ok());
  EXPECT_EQ(d.error().code, "detector.bad_config");
  EXPECT_NE(d.error().message.find("needs a model file"), std::string::npos);
}

}  // namespace
}  // namespace orion::infer
