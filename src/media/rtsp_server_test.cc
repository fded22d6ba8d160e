// RtspServer's lifecycle on loopback (its output is tested end to end by the engine's tests).
#include "media/rtsp_server.h"

#include <gtest/gtest.h>

#include <vector>

#include "testing/wait.h"
#include "testing/watchdog.h"

namespace orion::media {
namespace {

// A stop() that came before the server thread entered its main loop used to be lost, and the
// stop then waited for that loop forever.
TEST(RtspServer, StopRightAfterStartReturns) {
  testing::Watchdog dog(Duration::seconds(30), "rtsp server start/stop");
  for (int i = 0; i < 20; ++i) {
    RtspServerOptions o;
    o.port = 0;
    o.address = "127.0.0.1";
    auto server = RtspServer::start(o);
    ASSERT_TRUE(server.ok()) << server.error().to_string();
    EXPECT_GT((*server)->port(), 0);
    if (i % 2 == 1) {
      ASSERT_TRUE((*server)->add_output("cam").ok());
    }
    (*server)->stop();
    (*server)->stop();  // idempotent
  }
}

// Pictures submitted faster than x264 encodes them (1080p, back to back): at most
// encoder_queue wait, the rest are refused with "output.full" and counted, and every picture
// accepted comes out of the encoder (ADR 0091): no picture is lost where nobody counts it.
TEST(RtspServer, AFullEncoderQueueRefusesAndCountsPicturesAndLosesNoneItAccepted) {
  testing::Watchdog dog(Duration::seconds(60), "encoder queue");
  RtspServerOptions o;
  o.port = 0;
  o.address = "127.0.0.1";
  auto server = RtspServer::start(o);
  ASSERT_TRUE(server.ok()) << server.error().to_string();
  OutputOptions oo;
  oo.encoder = "x264enc";
  oo.encoder_queue = 2;
  auto out = (*server)->add_output("cam", oo);
  ASSERT_TRUE(out.ok()) << out.error().to_string();
  constexpr int kW = 1920, kH = 1080, kPictures = 60;
  std::vector<uint8_t> bgr(static_cast<size_t>(kW) * kH * 3);
  for (size_t i = 0; i < bgr.size(); ++i) bgr[i] = static_cast<uint8_t>((i * 7) ^ (i >> 11));
  uint64_t accepted = 0, refused = 0;
  for (int i = 0; i < kPictures; ++i) {
    auto r = (*out)->submit(picture_of(BgrImage{bgr.data(), kW, kH, kW * 3}),
                            Duration::millis(40) * i, Duration::millis(40));
    if (r) {
      ++accepted;
    } else {
      ASSERT_EQ(r.error().code, "output.full") << r.error().to_string();
      ++refused;
    }
  }
  EXPECT_GT(refused, 0u) << "x264 kept up with 60 back-to-back 1080p pictures";
  ASSERT_TRUE(orion::testing::wait_until([&] { return (*out)->stats().encoded == accepted; },
                                         Duration::seconds(30)))
      << "encoded " << (*out)->stats().encoded << " of " << accepted << " accepted";
  const OutputStats st = (*out)->stats();
  EXPECT_EQ(st.submitted, accepted);
  EXPECT_EQ(st.dropped, refused);
  EXPECT_EQ(st.submitted + st.dropped, static_cast<uint64_t>(kPictures));
  (*server)->stop();
}

}  // namespace
}  // namespace orion::media
