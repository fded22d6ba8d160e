// Bad model input is a clear error, never a crash: missing file, not ONNX, truncated, an ONNX
// whose output fits neither family, ONNX Runtime's dynamically quantised int8 model, and other
// load-time mistakes. Each test asserts the error code and the text a user reads.
#include <gtest/gtest.h>

#include "infer/registry.h"
#include "infer/test_onnx_builder.h"
#include "infer/test_util.h"
#include "testing/assets.h"

namespace orion::infer {
namespace {

using testing::reshape_model;
using testing::TempDir;

Result<DetectorPtr> load(const std::string& kind, const std::string& path) {
  DetectorConfig c;
  c.kind = kind;
  c.model_path = path;
  return create_detector(c);
}

#define EXPECT_CONTAINS(text, part) \
  EXPECT_NE(std::string(text).find(part), std::string::npos) << "text: " << (text)

TEST(BadModel, MissingFile) {
  for (const char* kind : {"yolov8", "yolox"}) {
    auto d = load(kind, "/nonexistent/models/yolov8n.onnx");
    ASSERT_FALSE(d.ok());
    EXPECT_EQ(d.error().code, "model.not_found");
    EXPECT_EQ(d.error().message, "model file '/nonexistent/models/yolov8n.onnx' does not exist");
  }
}

TEST(BadModel, FileThatIsNotOnnx) {
  TempDir dir;
  for (const std::string& bytes :
       {std::string("name: not a model\n"), std::string("\xff\xd8\xff\xe0\x00\x10JFIF\x00", 11),
        std::string()}) {
    const auto path = dir.write("model.onnx", bytes);
    auto d = load("yolov8", path);
    ASSERT_FALSE(d.ok());
    EXPECT_EQ(d.error().code, "model.not_onnx");
    EXPECT_CONTAINS(d.error().message, "model file '" + path + "' is not an ONNX model");
  }
}

TEST(BadModel, TruncatedFile) {
  TempDir dir;
  const std::string model = reshape_model(32, 32, {1, 6, 512});
  const auto path = dir.write("cut.onnx", model.substr(0, model.size() / 2));
  auto d = load("yolox", path);
  ASSERT_FALSE(d.ok());
  EXPECT_EQ(d.error().code, "model.truncated");
  EXPECT_CONTAINS(d.error().message, "model file '" + path + "' is truncated: it is " +
                                         std::to_string(model.size() / 2) + " bytes long");
}

TEST(BadModel, TruncatedRealModel) {
  ORION_REQUIRE_ASSET(yolox, "yolox_nano.onnx");
  TempDir dir;
  const std::string bytes = testing::read_file(yolox);
  const auto path = dir.write("yolox_half.onnx", bytes.substr(0, bytes.size() / 2));
  auto d = load("yolox", path);
  ASSERT_FALSE(d.ok());
  EXPECT_EQ(d.error().code, "model.truncated");
  EXPECT_CONTAINS(d.error().message, "is truncated");
  EXPECT_CONTAINS(d.error().message, "(copy the file again)");
}

TEST(BadModel, OutputShapeThatFitsNeitherFamily) {
  TempDir dir;
  const auto path = dir.write("odd.onnx", reshape_model(32, 32, {1, 6, 512}));
  auto v8 = load("yolov8", path);
  ASSERT_FALSE(v8.ok());
  EXPECT_EQ(v8.error().code, "model.bad_output_shape");
  EXPECT_CONTAINS(v8.error().message,
                  "has output 'output' of shape [1, 6, 512], which does not "
                  "fit a yolov8 model with input 32x32");
  EXPECT_CONTAINS(v8.error().message, "[1, 4+C, N] or [1, N, 4+C]");

  auto yx = load("yolox", path);
  ASSERT_FALSE(yx.ok());
  EXPECT_EQ(yx.error().code, "model.bad_output_shape");
  EXPECT_CONTAINS(yx.error().message, "does not fit a yolox model with input 32x32");
  EXPECT_CONTAINS(yx.error().message, "[1, 21, 5 + classes]");  // 16 + 4 + 1 anchors at 32x32
}

TEST(BadModel, FourDimensionalOutputFitsNeitherFamily) {
  TempDir dir;
  const auto path = dir.write("img.onnx", reshape_model(32, 32, {1, 3, 32, 32}));
  auto d = load("yolov8", path);
  ASSERT_FALSE(d.ok());
  EXPECT_EQ(d.error().code, "model.bad_output_shape");
  EXPECT_CONTAINS(d.error().message, "[1, 3, 32, 32]");
  EXPECT_CONTAINS(d.error().message, "3 dimensions");
}

TEST(BadModel, DynamicallyQuantizedInt8Model) {
  ORION_REQUIRE_ASSET(int8, "yolov8n_int8_dynamic.onnx");
  auto d = load("yolov8", int8);
  ASSERT_FALSE(d.ok());
  EXPECT_EQ(d.error().code, "model.unsupported_quantization");
  EXPECT_CONTAINS(d.error().message, "is a dynamically quantized int8 model");
  EXPECT_CONTAINS(d.error().message, "DynamicQuantizeLinear");
  EXPECT_CONTAINS(d.error().message, "OpenCV 4.6 cannot import dynamically quantized int8 models");
  EXPECT_CONTAINS(d.error().message,
                  "use the fp32 (float32) export of the same model instead, "
                  "e.g. yolov8n.onnx");
}

TEST(BadModel, ModelOfTheOtherFamily) {
  // yolox_nano's [1, 3549, 85] also reads as a yolov8 [1, N, 4 + 81]: the values tell.
  ORION_REQUIRE_ASSET(yolox, "yolox_nano.onnx");
  auto d = load("yolov8", yolox);
  ASSERT_FALSE(d.ok());
  EXPECT_EQ(d.error().code, "model.wrong_kind");
  EXPECT_CONTAINS(d.error().message,
                  "does not look like a yolov8 model: its box centres do not "
                  "spread over the 416-pixel-wide input");
  EXPECT_CONTAINS(d.error().message, "is it a yolox model? (try yolox:" + yolox + ")");
}

TEST(BadModel, OperatorOpenCvDoesNotKnow) {
  TempDir dir;
  std::string model = reshape_model(32, 32, {1, 6, 512});
  const auto at = model.find("Reshape");
  model.replace(at, 7, "Reshap3");  // same length: the protobuf stays well-formed
  const auto path = dir.write("unknown_op.onnx", model);
  auto d = load("yolov8", path);
  ASSERT_FALSE(d.ok());
  EXPECT_EQ(d.error().code, "model.import_failed");
  EXPECT_CONTAINS(d.error().message, "OpenCV 4.6 could not import model file '" + path + "'");
  EXPECT_CONTAINS(d.error().message, "Reshap3");
}

TEST(BadModel, InputSizeThatContradictsTheModel) {
  TempDir dir;
  const auto path = dir.write("m.onnx", reshape_model(32, 32, {1, 6, 512}));
  DetectorConfig c;
  c.kind = "yolov8";
  c.model_path = path;
  c.input_width = c.input_height = 640;
  auto d = create_detector(c);
  ASSERT_FALSE(d.ok());
  EXPECT_EQ(d.error().code, "model.input_size_mismatch");
  EXPECT_CONTAINS(d.error().message, "configured input size 640x640 contradicts model file");
  EXPECT_CONTAINS(d.error().message, "whose input is fixed at 32x32");
}

TEST(BadModel, HogTakesNoModelFile) {
  auto d = load("hog", "model.onnx");
  ASSERT_FALSE(d.ok());
  EXPECT_EQ(d.error().code, "detector.bad_config");
  EXPECT_CONTAINS(d.error().message, "takes no model file");
}

TEST(BadModel, HogTakesItsOneClassNameFromInlineNames) {
  DetectorConfig c;
  c.kind = "hog";
  c.class_names = {"pedestrian"};
  c.classes = {"pedestrian"};
  auto d = create_detector(c);
  ASSERT_TRUE(d.ok()) << d.error().to_string();
  EXPECT_EQ((*d)->info().class_names, std::vector<std::string>{"pedestrian"});
  EXPECT_EQ((*d)->info().class_names_source, "inline");
}

// ADR 0092: the OpenCV DNN and HOG backends run on the CPU only (DNN_TARGET_CPU); a CUDA device
// is refused at load, naming the kind and the device, before any model file is opened.
TEST(BadModel, ACpuKindRefusesACudaDevice) {
  for (const char* kind : {"yolov8", "yolox", "hog"}) {
    DetectorConfig c;
    c.kind = kind;
    c.model_path = std::string(kind) == "hog" ? "" : "/nonexistent/model.onnx";
    c.device = "cuda:1";
    auto d = create_detector(c);
    ASSERT_FALSE(d.ok()) << kind;
    EXPECT_EQ(d.error().code, "device.unsupported") << kind;
    EXPECT_CONTAINS(d.error().message, "'cuda:1'");
    EXPECT_CONTAINS(d.error().message, std::string("'") + kind + "'");
  }
}

TEST(BadModel, ADeviceOutsideTheGrammarIsRefused) {
  for (const char* text : {"gpu0", "cuda:-1", "cuda:x", "1"}) {
    DetectorConfig c;
    c.kind = "hog";
    c.device = text;
    auto d = create_detector(c);
    ASSERT_FALSE(d.ok()) << text;
    EXPECT_EQ(d.error().code, "device.invalid") << text;
    EXPECT_CONTAINS(d.error().message, std::string("'") + text + "'");
  }
}

TEST(BadModel, ACpuKindRunsWithDeviceCpuOrNone) {
  for (const char* device : {"", "cpu"}) {
    DetectorConfig c;
    c.kind = "hog";
    c.device = device;
    auto d = create_detector(c);
    EXPECT_TRUE(d.ok()) << "'" << device << "': " << d.error().to_string();
  }
}

}  // namespace
}  // namespace orion::infer
