#include "media/source_url.h"

#include <gtest/gtest.h>

namespace orion::media {
namespace {

TEST(SourceUrl, RtspAndRtspsAreKeptWhole) {
  auto s = parse_source_url("rtsp://10.0.0.5:554/cam1?x=1");
  ASSERT_TRUE(s.ok()) << s.error().to_string();
  EXPECT_EQ(s->kind, SourceKind::kRtsp);
  EXPECT_EQ(s->location, "rtsp://10.0.0.5:554/cam1?x=1");
  EXPECT_FALSE(s->tls);
  auto t = parse_source_url("rtsps://cam/a");
  ASSERT_TRUE(t.ok());
  EXPECT_EQ(t->kind, SourceKind::kRtsp);
  EXPECT_EQ(t->location, "rtsps://cam/a");
  EXPECT_TRUE(t->tls);
  EXPECT_FALSE(parse_source_url("rtspt://cam/a")->tls);
}

TEST(SourceUrl, PlainPathAndFileUriAreFiles) {
  EXPECT_EQ(parse_source_url("clips/a.mp4")->location, "clips/a.mp4");
  auto f = parse_source_url("file:///data/a.mp4");
  ASSERT_TRUE(f.ok());
  EXPECT_EQ(f->kind, SourceKind::kFile);
  EXPECT_EQ(f->location, "/data/a.mp4");
  EXPECT_FALSE(parse_source_url("file://relative.mp4").ok());
}

TEST(SourceUrl, V4l2NamesTheDevice) {
  auto s = parse_source_url("v4l2:///dev/video2");
  ASSERT_TRUE(s.ok());
  EXPECT_EQ(s->kind, SourceKind::kV4l2);
  EXPECT_EQ(s->location, "/dev/video2");
}

TEST(SourceUrl, TestPatternTakesSizeAndFps) {
  auto s = parse_source_url("test://ball?width=320&height=240&fps=25");
  ASSERT_TRUE(s.ok()) << s.error().to_string();
  EXPECT_EQ(s->kind, SourceKind::kTest);
  EXPECT_EQ(s->location, "ball");
  EXPECT_EQ(s->width, 320);
  EXPECT_EQ(s->height, 240);
  EXPECT_EQ(s->fps, 25);
  auto d = parse_source_url("test://");
  ASSERT_TRUE(d.ok());
  EXPECT_EQ(d->location, "smpte");
  EXPECT_EQ(d->fps, 10);
}

TEST(SourceUrl, ErrorsNameTheUrlAndTheCause) {
  auto s = parse_source_url("ftp://x/y");
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.error().code, "media.bad_url");
  EXPECT_NE(s.error().message.find("ftp://x/y"), std::string::npos);
  EXPECT_NE(s.error().message.find("unsupported scheme 'ftp'"), std::string::npos);
  auto t = parse_source_url("test://ball?fps=0");
  ASSERT_FALSE(t.ok());
  EXPECT_NE(t.error().message.find("'fps'"), std::string::npos);
  EXPECT_FALSE(parse_source_url("test://nosuch").ok());
  EXPECT_FALSE(parse_source_url("test://ball?depth=3").ok());
  EXPECT_FALSE(parse_source_url("rtsp:///nohost").ok());
  EXPECT_FALSE(parse_source_url("").ok());
}

}  // namespace
}  // namespace orion::media
