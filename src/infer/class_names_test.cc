// Class names from a file, from Ultralytics metadata, the COCO default, and class filters.
#include "infer/class_names.h"

#include <gtest/gtest.h>

#include "infer/test_util.h"

namespace orion::infer {
namespace {

TEST(ClassNames, ParsesTheUltralyticsNamesDict) {
  auto n = parse_names_metadata("{0: 'person', 1: \"traffic light\", 2: 'tie'}");
  EXPECT_EQ(n, (std::vector<std::string>{"person", "traffic light", "tie"}));
}

TEST(ClassNames, RejectsDictsThatAreNotZeroToNMinusOne) {
  EXPECT_TRUE(parse_names_metadata("{1: 'a'}").empty());
  EXPECT_TRUE(parse_names_metadata("['a', 'b']").empty());
  EXPECT_TRUE(parse_names_metadata("{0: 'a', 1: 'b'").empty());
}

TEST(ClassNames, FileWinsOverMetadataAndTrimsLines) {
  testing::TempDir dir;
  const auto path = dir.write("names.txt", "cat\r\ndog \nbird\n\n");
  auto n = resolve_class_names({}, path, {{"names", "{0: 'x', 1: 'y', 2: 'z'}"}}, 3, "m.onnx");
  ASSERT_TRUE(n.ok()) << n.error().to_string();
  EXPECT_EQ(n->names, (std::vector<std::string>{"cat", "dog", "bird"}));
  EXPECT_EQ(n->source, "file");
}

TEST(ClassNames, FileWithTheWrongCountIsAnError) {
  testing::TempDir dir;
  const auto path = dir.write("names.txt", "cat\ndog\n");
  auto n = resolve_class_names({}, path, {}, 80, "m.onnx");
  ASSERT_FALSE(n.ok());
  EXPECT_EQ(n.error().code, "model.class_count_mismatch");
  EXPECT_NE(n.error().message.find("lists 2 names but model 'm.onnx' outputs 80 classes"),
            std::string::npos);
}

TEST(ClassNames, InlineNamesWinOverTheFileAndMetadata) {
  testing::TempDir dir;
  const auto path = dir.write("names.txt", "cat\ndog\nbird\n");
  const std::vector<std::string> inline_names = {"person", "car", "caméra ✓"};
  auto n =
      resolve_class_names(inline_names, path, {{"names", "{0: 'x', 1: 'y', 2: 'z'}"}}, 3, "m.onnx");
  ASSERT_TRUE(n.ok()) << n.error().to_string();
  EXPECT_EQ(n->names, inline_names);
  EXPECT_EQ(n->source, "inline");
  // The file is not read at all when names are given inline.
  auto no_file = resolve_class_names(inline_names, "/nonexistent/names.txt", {}, 3, "m.onnx");
  ASSERT_TRUE(no_file.ok()) << no_file.error().to_string();
  EXPECT_EQ(no_file->source, "inline");
}

TEST(ClassNames, InlineNamesWithTheWrongCountAreAnError) {
  auto n = resolve_class_names({"cat", "dog"}, "", {}, 80, "m.onnx");
  ASSERT_FALSE(n.ok());
  EXPECT_EQ(n.error().code, "model.class_count_mismatch");
  EXPECT_NE(
      n.error().message.find("class_names lists 2 names but model 'm.onnx' outputs 80 classes"),
      std::string::npos)
      << n.error().message;
  // Not a fallback to the file or COCO: a wrong list is the user's mistake, said so.
  testing::TempDir dir;
  const auto path = dir.write("names.txt", "a\nb\nc\n");
  EXPECT_FALSE(resolve_class_names({"a", "b", "c", "d"}, path, {}, 3, "m.onnx").ok());
}

TEST(ClassNames, MissingFileIsAnError) {
  auto n = resolve_class_names({}, "/nonexistent/names.txt", {}, 80, "m.onnx");
  ASSERT_FALSE(n.ok());
  EXPECT_EQ(n.error().code, "detector.class_names");
}

TEST(ClassNames, MetadataThenCocoThenGenerated) {
  auto meta = resolve_class_names({}, "", {{"names", "{0: 'x', 1: 'y'}"}}, 2, "m");
  ASSERT_TRUE(meta.ok());
  EXPECT_EQ(meta->source, "model metadata");
  EXPECT_EQ(meta->names[1], "y");

  auto coco = resolve_class_names({}, "", {}, 80, "m");
  ASSERT_TRUE(coco.ok());
  EXPECT_EQ(coco->source, "coco default");
  EXPECT_EQ(coco->names[0], "person");
  EXPECT_EQ(coco->names[5], "bus");
  EXPECT_EQ(coco->names[27], "tie");
  EXPECT_EQ(coco->names[79], "toothbrush");

  auto gen = resolve_class_names({}, "", {{"names", "{0: 'only one'}"}}, 3, "m");
  ASSERT_TRUE(gen.ok());
  EXPECT_EQ(gen->source, "generated");
  EXPECT_EQ(gen->names, (std::vector<std::string>{"class_0", "class_1", "class_2"}));
}

TEST(ClassNames, FilterAcceptsNamesAndIds) {
  auto m = class_mask({"bus", "0"}, coco_class_names());
  ASSERT_TRUE(m.ok());
  ASSERT_EQ(m->size(), 80u);
  EXPECT_EQ((*m)[0], 1);
  EXPECT_EQ((*m)[5], 1);
  EXPECT_EQ((*m)[1], 0);
  auto all = class_mask({}, coco_class_names());
  ASSERT_TRUE(all.ok());
  EXPECT_TRUE(all->empty());
}

TEST(ClassNames, FilterNamingNoClassIsAnError) {
  for (const char* bad : {"unicorn", "80", "-1", "1x"}) {
    auto m = class_mask({bad}, coco_class_names());
    ASSERT_FALSE(m.ok()) << bad;
    EXPECT_EQ(m.error().code, "detector.unknown_class");
    EXPECT_NE(m.error().message.find(std::string("'") + bad + "' names no class"),
              std::string::npos);
  }
}

}  // namespace
}  // namespace orion::infer
