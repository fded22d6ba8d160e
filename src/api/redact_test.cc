// Credentials in URLs: the password never survives redaction, wherever the URL sits in a text;
// URLs without one come back unchanged.
#include "api/redact.h"

#include <gtest/gtest.h>

namespace orion::api {
namespace {

TEST(Redact, HidesThePasswordOfAnRtspUrl) {
  EXPECT_EQ(redact_url("rtsp://admin:hunter2@10.0.0.5:554/stream1"),
            "rtsp://admin:***@10.0.0.5:554/stream1");
  EXPECT_EQ(redact_url("rtsps://u:p@cam.local/s"), "rtsps://u:***@cam.local/s");
}

TEST(Redact, LeavesUrlsWithoutPasswordsAlone) {
  for (const char* u : {"rtsp://10.0.0.5:554/stream1", "rtsp://user@host/s", "test://ball?fps=5",
                        "file:///videos/a.mp4", "clips/a.mp4", "rtsp://host/p?x=1"}) {
    EXPECT_EQ(redact_url(u), u);
    EXPECT_FALSE(has_password(u)) << u;
  }
}

TEST(Redact, HidesPasswordsInsideFreeText) {
  EXPECT_EQ(redact_text("could not open rtsp://a:s3cret@h/x: timeout; retry rtsp://b:pw@k/y"),
            "could not open rtsp://a:***@h/x: timeout; retry rtsp://b:***@k/y");
  EXPECT_EQ(redact_text("url 'rtsp://a:s3cret@h/x' is bad"), "url 'rtsp://a:***@h/x' is bad");
  EXPECT_EQ(redact_text("{\"url\":\"rtsp://a:s3cret@h/x\"}"), "{\"url\":\"rtsp://a:***@h/x\"}");
}

TEST(Redact, PasswordsWithAtSignsOrSlashesAreHiddenWhole) {
  // A raw '@' in the password: the userinfo ends at the last '@' of the authority.
  EXPECT_EQ(redact_url("rtsp://u:p@ss@host/s"), "rtsp://u:***@host/s");
  // A raw '/' in the password: everything from ':' to the '@' goes.
  const std::string r = redact_url("rtsp://u:pa/ss@host/s");
  EXPECT_EQ(r.find("pa/ss"), std::string::npos) << r;
  EXPECT_EQ(r.find("ss@"), std::string::npos) << r;
}

TEST(Redact, EmptyPasswordAndRepeatedRedactionAreStable) {
  EXPECT_EQ(redact_url("rtsp://u:@h/s"), "rtsp://u:***@h/s");
  EXPECT_EQ(redact_url(redact_url("rtsp://u:p@h/s")), "rtsp://u:***@h/s");
  EXPECT_TRUE(has_password("rtsp://u:p@h/s"));
}

}  // namespace
}  // namespace orion::api
