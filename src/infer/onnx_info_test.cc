// The ONNX pre-check on hand-written protobuf bytes: shapes, metadata, operator types, and the
// errors for empty, foreign and truncated files.
#include "infer/onnx_info.h"

#include <gtest/gtest.h>

#include "infer/test_onnx_builder.h"
#include "infer/test_util.h"

namespace orion::infer {
namespace {

using testing::reshape_model;

TEST(OnnxInfo, ReadsInputOutputShapesOpsOpsetAndMetadata) {
  const std::string bytes = reshape_model(32, 32, {1, 6, 512}, {{"names", "{0: 'a', 1: 'b'}"}});
  auto info = scan_onnx(bytes, "m.onnx");
  ASSERT_TRUE(info.ok()) << info.error().to_string();
  EXPECT_EQ(info->ir_version, 7);
  EXPECT_EQ(info->opset, 12);
  EXPECT_EQ(info->producer, "orion-test");
  ASSERT_EQ(info->inputs.size(), 1u);  // the "shape" initializer is not an input
  EXPECT_EQ(info->inputs[0].name, "images");
  EXPECT_EQ(info->inputs[0].dims, (std::vector<int64_t>{1, 3, 32, 32}));
  EXPECT_EQ(info->inputs[0].elem_type, 1);
  ASSERT_EQ(info->outputs.size(), 1u);
  EXPECT_EQ(info->outputs[0].dims, (std::vector<int64_t>{1, 6, 512}));
  EXPECT_EQ(info->op_types, (std::set<std::string>{"Reshape"}));
  EXPECT_EQ(info->metadata.at("names"), "{0: 'a', 1: 'b'}");
}

TEST(OnnxInfo, EmptyFileIsNotOnnx) {
  auto info = scan_onnx("", "empty.onnx");
  ASSERT_FALSE(info.ok());
  EXPECT_EQ(info.error().code, "model.not_onnx");
  EXPECT_NE(info.error().message.find("the file is empty"), std::string::npos);
}

TEST(OnnxInfo, TextAndJpegAreNotOnnx) {
  for (const std::string& bytes : {std::string("hello, I am a text file\n"),
                                   std::string("\xff\xd8\xff\xe0\x00\x10JFIF", 10)}) {
    auto info = scan_onnx(bytes, "x.onnx");
    ASSERT_FALSE(info.ok());
    EXPECT_EQ(info.error().code, "model.not_onnx");
    EXPECT_NE(info.error().message.find("'x.onnx' is not an ONNX model"), std::string::npos);
  }
}

TEST(OnnxInfo, GarbageAfterAValidHeaderIsNotOnnx) {
  std::string bytes = reshape_model(32, 32, {1, 6, 512});
  bytes += std::string("\x07\x07\x07", 3);  // field 0 / wire type 7: not protobuf
  auto info = scan_onnx(bytes, "x.onnx");
  ASSERT_FALSE(info.ok());
  EXPECT_EQ(info.error().code, "model.not_onnx");
  EXPECT_NE(info.error().message.find("malformed protobuf at byte"), std::string::npos);
}

TEST(OnnxInfo, EveryTruncationIsReportedAsTruncated) {
  // Cut anywhere up to the end of opset_import (what follows, metadata, is optional).
  const std::string bytes = reshape_model(32, 32, {1, 6, 512});
  for (size_t cut = 2; cut < bytes.size(); ++cut) {
    auto info = scan_onnx(bytes.substr(0, cut), "cut.onnx");
    ASSERT_FALSE(info.ok()) << "cut at " << cut;
    EXPECT_EQ(info.error().code, "model.truncated")
        << "cut at " << cut << ": " << info.error().message;
  }
}

TEST(OnnxInfo, ReadFileReportsAMissingFileAndADirectory) {
  std::vector<char> bytes;
  auto missing = read_onnx_file("/nonexistent/dir/model.onnx", bytes);
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.error().code, "model.not_found");
  EXPECT_EQ(missing.error().message, "model file '/nonexistent/dir/model.onnx' does not exist");

  testing::TempDir dir;
  auto d = read_onnx_file(dir.path(""), bytes);
  ASSERT_FALSE(d.ok());
  EXPECT_EQ(d.error().code, "model.unreadable");
}

TEST(OnnxInfo, ReadFileKeepsTheBytes) {
  testing::TempDir dir;
  const std::string model = reshape_model(32, 32, {1, 6, 512});
  std::vector<char> bytes;
  auto info = read_onnx_file(dir.write("m.onnx", model), bytes);
  ASSERT_TRUE(info.ok()) << info.error().to_string();
  EXPECT_EQ(std::string(bytes.begin(), bytes.end()), model);
}

}  // namespace
}  // namespace orion::infer
