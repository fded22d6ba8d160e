// Still-image I/O: loading (and its errors), the annotated image, and the JSON of detections.
#include "infer/image_io.h"

#include <gtest/gtest.h>

#include "infer/test_util.h"
#include "testing/assets.h"

namespace orion::infer {
namespace {

TEST(ImageIo, LoadsAJpegAsBgrFrame) {
  ORION_REQUIRE_ASSET(img, "zidane.jpg");
  auto f = load_image(img);
  ASSERT_TRUE(f.ok()) << f.error().to_string();
  EXPECT_EQ((*f)->format(), PixelFormat::kBGR24);
  EXPECT_EQ((*f)->width(), 1280);
  EXPECT_EQ((*f)->height(), 720);
}

TEST(ImageIo, MissingAndUndecodableFilesAreErrors) {
  auto missing = load_image("/nonexistent/x.jpg");
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.error().code, "image.not_found");
  testing::TempDir dir;
  auto bad = load_image(dir.write("x.jpg", "not an image"));
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.error().code, "image.unreadable");
}

TEST(ImageIo, WritesAnAnnotatedImageThatLoadsBack) {
  ORION_REQUIRE_ASSET(img, "bus.jpg");
  auto f = load_image(img);
  ASSERT_TRUE(f.ok());
  testing::TempDir dir;
  const std::string out = dir.path("bus.detections.jpg");
  std::vector<Detection> dets = {{5, "bus", 0.9f, {32, 230, 798, 770}},
                                 {0, "person", 0.5f, {0, 0, 50, 20}}};  // label above the top
  ASSERT_TRUE(write_annotated_image(out, **f, dets).ok());
  auto back = load_image(out);
  ASSERT_TRUE(back.ok());
  EXPECT_EQ((*back)->width(), 810);
  auto fail = write_annotated_image(dir.path("no/such/dir/x.jpg"), **f, dets);
  ASSERT_FALSE(fail.ok());
  EXPECT_EQ(fail.error().code, "image.write_failed");
}

TEST(ImageIo, JsonEscapesNamesAndRoundsNumbers) {
  std::vector<Detection> dets = {{3, "a \"quoted\"\\name\n", 0.123456f, {1.26f, 2, 3, 4}}};
  EXPECT_EQ(detections_to_json(dets, 0),
            "[{\"class_id\": 3, \"class_name\": \"a \\\"quoted\\\"\\\\name\\n\", \"score\": "
            "0.1235, \"box\": [1.3, 2.0, 3.0, 4.0]}]");
  EXPECT_EQ(detections_to_json({}), "[]");
}

}  // namespace
}  // namespace orion::infer
