// RtspServer's lifecycle on loopback (its output is tested end to end by the engine's tests).
#include "media/rtsp_server.h"

#include <gtest/gtest.h>

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

}  // namespace
}  // namespace orion::media
